// `npm run bench:sim`: the simulator's two modes driving the same Mosquitto (Debian's, in memory),
// each run as the real `tributary sim` command: the high-rate mode (--raw: pre-encoded packets over
// raw sockets) against MQTT.js publishers (--rate max: every device keeps a window of QoS 1
// messages in flight), with the same number of connections and the same window.
//   1. as fast as each goes, alternating runs: messages/s and the generator's CPU;
//   2. both at the same fixed rate: the generator's CPU for the same work.
// Prints a table and the ratios, then one JSON line ({"bench":"sim", ...}).
//
// BENCH_QUICK=1 for a short smoke run; BENCH_CONNECTIONS, BENCH_SECONDS, BENCH_WINDOW,
// BENCH_RATE (messages/s in total for part 2), BENCH_WORKERS (--workers of the raw mode).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimSummary } from '../device-sim/stats.js';
import { cpuSeconds, startMosquitto } from './processes.js';
import { median } from './figures.js';

const QUICK = process.env.BENCH_QUICK === '1';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 2 : 10));
const WINDOW = Number(process.env.BENCH_WINDOW ?? 100);
const RATE = Number(process.env.BENCH_RATE ?? 20_000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const RUNS = QUICK ? 1 : 3;
const CLI = fileURLToPath(new URL('../bridge/cli.js', import.meta.url));

type Mode = 'raw' | 'mqttjs';

interface Measured {
  msgsPerSec: number;
  generatorCpu: number;
  brokerCpu: number;
  /** Generator CPU per acknowledged message, microseconds. */
  cpuUsPerMsg: number;
}

function simArgs(mode: Mode, url: string, seconds: number, totalRate?: number): string[] {
  const common = ['--url', url, '--duration', `${seconds}s`, '--json', '--quiet', '--seed', '1', '--profile', 'climate'];
  const perConnection = totalRate === undefined ? 'max' : String(totalRate / CONNECTIONS);
  if (mode === 'raw') return [...common, '--raw', '--connections', String(CONNECTIONS), '--raw-window', String(WINDOW), '--workers', String(WORKERS), '--rate', perConnection];
  return [...common, '--devices', String(CONNECTIONS), '--window', String(WINDOW), '--rate', perConnection];
}

/** Runs `tributary sim` as a child and returns its JSON summary. */
function runSim(args: string[]): Promise<SimSummary> {
  const child = spawn(process.execPath, [CLI, 'sim', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout) as SimSummary) : reject(new Error(`tributary sim ${args.join(' ')} exited with ${code}`)))),
  );
}

async function measure(mode: Mode, broker: { port: number; process: import('node:child_process').ChildProcess }, seconds: number, totalRate?: number): Promise<Measured> {
  const before = cpuSeconds(broker.process);
  const s = await runSim(simArgs(mode, `mqtt://127.0.0.1:${broker.port}`, seconds, totalRate));
  if (s.acked !== s.sent) throw new Error(`${mode}: ${s.sent - s.acked} of ${s.sent} messages never acknowledged`);
  return {
    msgsPerSec: Math.round(s.msgsPerSec),
    generatorCpu: Number(s.cpuCores.toFixed(2)),
    brokerCpu: Number(((cpuSeconds(broker.process) - before) / s.seconds).toFixed(2)),
    cpuUsPerMsg: Number(((s.cpuCores * 1e6) / s.msgsPerSec).toFixed(2)),
  };
}


function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sim-'));
  const mosquitto = await startMosquitto(dir);
  const cleanup = (): void => {
    mosquitto.process.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => (cleanup(), process.exit(130)));
  try {
    const modes: Mode[] = ['raw', 'mqttjs'];
    for (const mode of modes) await measure(mode, mosquitto, 1); // warm-up
    const runs: Record<Mode, Measured[]> = { raw: [], mqttjs: [] };
    for (let i = 0; i < RUNS; i++) for (const mode of modes) runs[mode].push(await measure(mode, mosquitto, SECONDS));
    const fixed: Record<Mode, Measured> = { raw: await measure('raw', mosquitto, SECONDS, RATE), mqttjs: await measure('mqttjs', mosquitto, SECONDS, RATE) };

    const max = Object.fromEntries(
      modes.map((m) => [
        m,
        {
          msgsPerSec: median(runs[m].map((r) => r.msgsPerSec)),
          runs: runs[m].map((r) => r.msgsPerSec),
          generatorCpuCores: median(runs[m].map((r) => r.generatorCpu)),
          cpuUsPerMsg: median(runs[m].map((r) => r.cpuUsPerMsg)),
          brokerCpuCores: median(runs[m].map((r) => r.brokerCpu)),
        },
      ]),
    ) as Record<Mode, { msgsPerSec: number; runs: number[]; generatorCpuCores: number; cpuUsPerMsg: number; brokerCpuCores: number }>;
    const throughputRatio = Number((max.raw.msgsPerSec / max.mqttjs.msgsPerSec).toFixed(2));
    const cpuPerMsgRatio = Number((max.raw.cpuUsPerMsg / max.mqttjs.cpuUsPerMsg).toFixed(2));
    const fixedCpuRatio = Number((fixed.raw.generatorCpu / fixed.mqttjs.generatorCpu).toFixed(2));

    console.log(`tributary sim vs Mosquitto (in memory): ${CONNECTIONS} connections x ${WINDOW} QoS 1 in flight, ${RUNS} x ${SECONDS} s each, raw mode with ${WORKERS} worker(s)`);
    console.log('1. as fast as each goes');
    table([
      ['generator', 'msgs/s (median)', 'runs', 'generator CPU', 'CPU/msg', 'mosquitto CPU'],
      ...modes.map((m) => [m === 'raw' ? 'sim --raw' : 'sim (MQTT.js)', String(max[m].msgsPerSec), max[m].runs.join(' '), `${max[m].generatorCpuCores} cores`, `${max[m].cpuUsPerMsg} µs`, `${max[m].brokerCpuCores} cores`]),
    ]);
    console.log(`2. both at ${RATE} msg/s`);
    table([
      ['generator', 'msgs/s', 'generator CPU', 'CPU/msg', 'mosquitto CPU'],
      ...modes.map((m) => [m === 'raw' ? 'sim --raw' : 'sim (MQTT.js)', String(fixed[m].msgsPerSec), `${fixed[m].generatorCpu} cores`, `${fixed[m].cpuUsPerMsg} µs`, `${fixed[m].brokerCpu} cores`]),
    ]);
    const met = throughputRatio >= 1 && cpuPerMsgRatio < 1 && fixedCpuRatio < 1;
    console.log(`raw / MQTT.js: throughput ${throughputRatio}x, CPU per message ${cpuPerMsgRatio}x, CPU at ${RATE} msg/s ${fixedCpuRatio}x (goal: throughput >= 1x with less CPU: ${met ? 'met' : 'not met'})`);
    console.log(JSON.stringify({ bench: 'sim', connections: CONNECTIONS, window: WINDOW, seconds: SECONDS, workers: WORKERS, rate: RATE, max, fixed, throughputRatio, cpuPerMsgRatio, fixedCpuRatio, met }));
  } finally {
    cleanup();
  }
}

await main();
