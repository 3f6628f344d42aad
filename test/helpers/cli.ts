// The `tributary` command as a user runs it, for tests: one-shot runs, and a node started with
// `tributary start` on free ports that is stopped with the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.js';

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

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
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
  for (let i = 0; i < 300 && !output.includes('Tributary started'); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
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
