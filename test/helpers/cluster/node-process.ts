// A real Tributary node process (`tributary start`) inside a harness namespace, on the ports a
// gateway uses (each namespace has its own): MQTT 1883 on every address, the HTTP API on the node's
// address with a bearer token (the API is then off loopback, which needs one). Process faults:
// SIGKILL, SIGSTOP/SIGCONT, restart on the same data directory, restart with it wiped. A node with a
// cluster block is initialised first (`tributary cluster init`), as an install does
// (docs/replication.md, "Bootstrapping a cluster"); a wiped one is restarted without init, as a
// member that lost its disk is.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import YAML from 'yaml';
import { CLI, runCli } from '../cli.js';
import { onCleanup } from '../cleanup.js';
import { tempDir } from '../temp-dir.js';
import { PATIENCE_MS, pollUntil } from '../wait-for.js';
import type { NetNode, Network } from './network.js';

export const CLUSTER_TOKEN = 'cluster-harness-token-0123456789';
export const MQTT_PORT = 1883;
export const HTTP_PORT = 8080;

export class NodeProcess {
  readonly dataDir: string;
  readonly configFile: string;
  /** Whether its config has a cluster block (startNodes initialises such a node before its first start). */
  readonly clustered: boolean;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  /** stdout and stderr of the current run (for failure messages). */
  output = '';

  constructor(
    readonly net: Network,
    readonly at: NetNode,
    dir: string,
    settings: Record<string, unknown>,
  ) {
    this.dataDir = join(dir, 'data');
    this.configFile = join(dir, 'tributary.yaml');
    mkdirSync(this.dataDir, { recursive: true });
    const config = {
      ...settings,
      node: { id: `n${at.index}`, ...(settings.node as object | undefined) },
      dataDir: this.dataDir,
      mqtt: { host: '0.0.0.0', port: MQTT_PORT, ...(settings.mqtt as object | undefined), websocket: { enabled: false } },
      http: { host: at.address, port: HTTP_PORT, token: CLUSTER_TOKEN, ...(settings.http as object | undefined) },
    };
    writeFileSync(this.configFile, YAML.stringify(config));
    this.clustered = settings.cluster !== undefined;
  }

  /** `tributary cluster init` on its config (a local step: outside its namespace); throws with the output when it fails. */
  init(): void {
    const r = runCli(['cluster', 'init', '--config', this.configFile]);
    if (r.status !== 0) throw new Error(`cluster init of node ${this.at.index} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  }

  get mqttUrl(): string {
    return `mqtt://${this.at.address}:${MQTT_PORT}`;
  }

  get httpUrl(): string {
    return `http://${this.at.address}:${HTTP_PORT}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** How the last run ended ('exit 1', 'signal SIGKILL'), or null while it runs (or never ran). */
  get ended(): string | null {
    if (this.#child === null || this.running) return null;
    return this.#child.signalCode !== null ? `signal ${this.#child.signalCode}` : `exit ${this.#child.exitCode}`;
  }

  get running(): boolean {
    return this.#child !== null && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts the process (`ip netns exec` execs node: the pid is the node's) and waits until it serves. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`node ${this.at.index} is already running`);
    this.output = '';
    const argv = this.net.wrap(this.at, [process.execPath, CLI, 'start', '--config', this.configFile]);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout!.on('data', (c: Buffer) => (this.output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (this.output += c.toString()));
    this.#exited = new Promise((resolve) => child.on('close', () => resolve()));
    await pollUntil(() => this.output.includes('Tributary started') || !this.running, PATIENCE_MS, 50);
    if (!this.output.includes('Tributary started')) {
      this.kill('SIGKILL');
      await this.#exited;
      throw new Error(`node ${this.at.index} did not start:\n${this.output}`);
    }
  }

  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT, SIGTERM); waits for the exit on SIGKILL. */
  kill(signal: NodeJS.Signals): Promise<void> {
    if (this.running) this.#child!.kill(signal);
    return signal === 'SIGKILL' ? this.#exited : Promise.resolve();
  }

  pause(): Promise<void> {
    return this.kill('SIGSTOP');
  }

  resume(): Promise<void> {
    return this.kill('SIGCONT');
  }

  /** A clean stop (SIGTERM), waited for. */
  async stop(): Promise<void> {
    if (!this.running) return this.#exited;
    this.#child!.kill('SIGCONT'); // a paused process cannot handle SIGTERM
    this.#child!.kill('SIGTERM');
    return this.#exited;
  }

  /** SIGKILL, then start again on the same data directory (or an empty one with `wipe`). */
  async restart(options: { wipe?: boolean } = {}): Promise<void> {
    await this.kill('SIGKILL');
    if (options.wipe === true) {
      rmSync(this.dataDir, { recursive: true, force: true });
      mkdirSync(this.dataDir, { recursive: true });
    }
    await this.start();
  }
}

/**
 * One node process per namespace of `net`, configured with `settings(node)` (e.g. a cluster block
 * naming the others' addresses); initialised when it has a cluster block, started, and killed when
 * the test ends (before the namespaces and data directories are removed).
 */
export async function startNodes(t: TestContext, net: Network, settings: (at: NetNode) => Record<string, unknown> = () => ({})): Promise<NodeProcess[]> {
  const nodes = net.nodes.map((at) => new NodeProcess(net, at, tempDir(t, `tributary-cluster-n${at.index}-`), settings(at)));
  onCleanup(t, async () => {
    for (const node of nodes) await node.kill('SIGCONT');
    await Promise.all(nodes.map((node) => node.kill('SIGKILL')));
  });
  for (const node of nodes) if (node.clustered) node.init();
  await Promise.all(nodes.map((node) => node.start()));
  return nodes;
}
