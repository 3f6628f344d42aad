// What the benchmarks share about the processes they measure: free ports, waiting for a listener,
// Debian's Mosquitto as the peer, a child's CPU time and memory from Linux's /proc, and the run's
// scratch directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join, resolve } from 'node:path';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

export async function waitForPort(port: number, child: ChildProcess, name: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode} before listening`);
    const open = await new Promise<boolean>((done) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), done(true)));
      socket.once('error', () => done(false));
    });
    if (open) return;
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`${name} did not listen on ${port}`);
}

function mosquittoBinary(): string {
  for (const candidate of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto']) if (existsSync(candidate)) return candidate;
  throw new Error("Mosquitto is not installed: apt-get install mosquitto (Debian's package is the peer of this benchmark)");
}

/** Mosquitto on a free loopback port, in memory (persistence off), anonymous. */
export async function startMosquitto(dir: string, settings: string[] = []): Promise<{ port: number; process: ChildProcess }> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_queued_messages 0', 'log_type error', ...settings, ''].join('\n'));
  const child = spawn(mosquittoBinary(), ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child, 'mosquitto');
  return { port, process: child };
}

/** CPU seconds a process has used so far: utime + stime of /proc/PID/stat, in clock ticks (100/s). */
export function cpuSeconds(child: ChildProcess | number): number {
  const { user, system } = cpuTimes(typeof child === 'number' ? child : child.pid!);
  return user + system;
}

/** A process's CPU seconds so far, in user space and in the kernel (utime, stime of /proc/PID/stat), all its threads. */
export function cpuTimes(pid: number): { user: number; system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

/**
 * CPU seconds of each thread of a process so far (utime + stime of /proc/PID/task/TID/stat), by
 * thread id; the main thread's id is the pid. A thread that ended is missing (its time stays in
 * the process's total).
 */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const threads = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      threads.set(Number(tid), (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return threads;
}

/** Resident memory of a process from /proc/PID/status: now (VmRSS) and its peak so far (VmHWM), bytes. */
export function memory(child: ChildProcess): { rssBytes: number; peakRssBytes: number } {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

/**
 * How `npm start` launches a node: the environment assignments and node flags of package.json's
 * start script (e.g. `MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 dist/bridge/cli.js start`),
 * so that a benchmark measures Tributary as it ships, not as a bare `node` would run it.
 */
export function startScriptSettings(): { env: Record<string, string>; nodeFlags: string[] } {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  const env: Record<string, string> = {};
  let i = 0;
  for (; words[i]?.includes('=') === true; i++) {
    const [name, value] = words[i]!.split('=', 2) as [string, string];
    env[name] = value;
  }
  if (words[i++] !== 'node') throw new Error(`package.json's start script does not run node: ${pkg.scripts.start}`);
  const nodeFlags: string[] = [];
  for (; words[i]?.startsWith('--') === true; i++) nodeFlags.push(words[i]!);
  return { env, nodeFlags };
}

/**
 * The environment that lets `devices` connections arrive at once from one address: the default
 * admission rate (500/s) would pace them, and the per-address limits (docs/security.md) are sized
 * for that pace.
 */
export function connectionLimitsEnv(devices: number): Record<string, string> {
  return {
    TRIBUTARY_MQTT_LIMITS_CONNECTIONS_PER_SECOND: String(devices * 2),
    TRIBUTARY_MQTT_LIMITS_MAX_PENDING_CONNECTS: String(devices * 2),
    TRIBUTARY_MQTT_LIMITS_MAX_PENDING_CONNECTS_PER_ADDRESS: String(devices * 2),
    TRIBUTARY_MQTT_LIMITS_MAX_CONNECTIONS_PER_ADDRESS: String(devices * 2),
  };
}

/**
 * A scratch directory for one bench run under BENCH_DIR (default .bench-data), with the child
 * processes to kill when it ends: `cleanup()` kills them and removes the directory, and Ctrl-C
 * runs it before exiting.
 */
export function benchScratch(name: string): { dir: string; children: ChildProcess[]; cleanup(): void } {
  const base = resolve(process.env.BENCH_DIR ?? '.bench-data');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, `${name}-`));
  const children: ChildProcess[] = [];
  const cleanup = (): void => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => (cleanup(), process.exit(130)));
  return { dir, children, cleanup };
}
