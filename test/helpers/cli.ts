// The `tributary` command as a user runs it, for tests: one-shot runs, and a node started with
// `tributary start` on free ports that is stopped with the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.js';
import { PATIENCE_MS, pollUntil } from './wait-for.js';

export const CLI = fileURLToPath(new URL('../../bridge/cli.js', import.meta.url));

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { input?: string } = {}): RunResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 512 * 1024 * 1024, input: options.input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI without blocking this process (when the node it talks to lives in it). */
export function runCliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/**
 * A port free on 127.0.0.1 now, for a process the test starts later. Taken below the kernel's
 * ephemeral range (ip_local_port_range): a port the kernel hands out (port 0) can be taken again by
 * any outgoing connection (a client, Kafka, another test) before the process binds it, which made
 * restarts under load fail with "port already in use". Ports below the range are taken only by
 * explicit binds, and reserved (reservePort) so that test processes running side by side never
 * hand out the same one.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  for (let attempt = 0; attempt < 200 && low > 11_000; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (reservePort(port, process.pid) && (await bindable(port))) return port;
  }
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Where test processes reserve ports: one file per port, holding the reserving process's id. */
const RESERVATIONS = join(tmpdir(), 'tributary-test-ports');

/**
 * Reserves `port` for process `owner` until it exits: false if a live process holds it. A
 * reservation of a process that has ended is taken over (test/kafka/kafka.sh reserves the same way).
 */
export function reservePort(port: number, owner: number): boolean {
  mkdirSync(RESERVATIONS, { recursive: true });
  const file = join(RESERVATIONS, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(owner), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(file, 'utf8'));
      if (holder > 0 && alive(holder)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

/** Whether process `pid` is running (EPERM: it is, as another user's). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface CliNode {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `tributary start` on `dataDir`, HTTP on a free port (MQTT on `mqttPort`, else any; `env` added to this process's); resolves once it serves. */
export async function startCliNode(t: TestContext, dataDir: string, mqttPort = 0, env: NodeJS.ProcessEnv = {}): Promise<CliNode> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, '--http-port', String(port), '--mqtt-port', String(mqttPort), '--ws-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  // Stopped (and waited for) before the data dir it writes into is removed.
  onCleanup(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  await pollUntil(() => output.includes('Tributary started') || child.exitCode !== null, PATIENCE_MS, 50);
  if (!output.includes('Tributary started')) throw new Error(`node did not start:\n${output}`);
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
