// `npm run bench:ingest`: MQTT QoS 1 ingest of Tributary (durability fsync: PUBACK after the
// fsync that covers the message) beside Mosquitto (Debian's package, in memory, persistence off),
// driven by the same raw-socket load generator (device-sim/raw-publisher.ts), in alternating runs.
// A bare aedes (the MQTT core Tributary is built on, in memory, storing nothing) runs too, as a
// reference for what the core alone costs.
// Then PUBACK latency of each at a fixed rate. The same runs again with MQTT 5.0 (the generator's
// PUBLISHes without properties), alternating with the 3.1.1 ones. Prints a table per protocol, then
// one JSON line ({"bench":"ingest", ..., "v5": {...}}).
//
// BENCH_QUICK=1 for a short smoke run; BENCH_CONNECTIONS, BENCH_SECONDS, BENCH_WINDOW,
// BENCH_RATE to change the load; BENCH_DIR for the data directory (default .bench-data, on the
// disk a real data directory would use: /tmp may be a tmpfs where fsync costs nothing).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runRawPublisher, type RawPublisherResult } from '../device-sim/raw-publisher.js';
import { cpuSeconds, freePort, startMosquitto, startScriptSettings, waitForPort } from './processes.js';
import { median } from './figures.js';

const QUICK = process.env.BENCH_QUICK === '1';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 2 : 10));
const WINDOW = Number(process.env.BENCH_WINDOW ?? 100);
const RATE = Number(process.env.BENCH_RATE ?? 20_000);
const RUNS = QUICK ? 1 : 3;
// Issue 19's scaling figure: each broker pinned to one core, then given both (BENCH_SCALING=0: skipped).
const SCALING = process.env.BENCH_SCALING !== '0';
const PAYLOAD = 100;
const CLI = fileURLToPath(new URL('../bridge/cli.js', import.meta.url));

interface Broker {
  name: 'mosquitto' | 'tributary' | 'bare-aedes';
  port: number;
  process: ChildProcess;
}

async function startMosquittoBroker(dir: string): Promise<Broker> {
  const { port, process: child } = await startMosquitto(dir);
  return { name: 'mosquitto', port, process: child };
}

async function startTributary(dataDir: string): Promise<Broker> {
  const port = await freePort();
  // As `npm start` launches it (its environment and node flags).
  const launch = startScriptSettings();
  const child = spawn(process.execPath, [...launch.nodeFlags, CLI, 'start', '--data-dir', dataDir, '--mqtt-port', String(port), '--ws-port', '0', '--http-port', '0'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...launch.env, ...process.env, LOG_LEVEL: 'warn', TRIBUTARY_LOG_DURABILITY: 'fsync' },
  });
  await waitForPort(port, child, 'tributary');
  return { name: 'tributary', port, process: child };
}

async function startBareAedes(): Promise<Broker> {
  const port = await freePort();
  const child = spawn(process.execPath, [fileURLToPath(new URL('./bare-aedes.js', import.meta.url)), String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child, 'bare aedes');
  return { name: 'bare-aedes', port, process: child };
}

async function drive(broker: Broker, rate?: number, protocolVersion: 4 | 5 = 4): Promise<RawPublisherResult & { brokerCpu: number }> {
  const before = cpuSeconds(broker.process);
  const result = await runRawPublisher({
    host: '127.0.0.1',
    port: broker.port,
    connections: CONNECTIONS,
    payloadBytes: PAYLOAD,
    window: WINDOW,
    durationMs: SECONDS * 1000,
    clientIdPrefix: `${broker.name}-v${protocolVersion}`,
    protocolVersion,
    ...(rate === undefined ? {} : { rate }),
  });
  if (result.acked !== result.sent) throw new Error(`${broker.name}: ${result.sent - result.acked} of ${result.sent} messages never acknowledged`);
  return { ...result, brokerCpu: (cpuSeconds(broker.process) - before) / result.seconds };
}


/** Pins every thread of process `pid` (a worker thread is one too) to `cores` (taskset's list form, e.g. "0" or "0,1"). */
function pin(pid: number, cores: string): void {
  execFileSync('taskset', ['-a', '-c', '-p', cores, String(pid)], { stdio: 'ignore' });
}

/**
 * Throughput with the broker on one core (the generator, this process, on the other) and on both
 * (the generator sharing them), medians of RUNS: how much of its speed a broker owes to the second core.
 */
async function scaling(broker: Broker): Promise<{ oneCore: number; twoCores: number }> {
  const median = async (): Promise<number> => {
    const r: number[] = [];
    for (let i = 0; i < RUNS; i++) r.push(Math.round((await drive(broker)).msgsPerSec));
    return r.sort((a, b) => a - b)[Math.floor(r.length / 2)]!;
  };
  try {
    pin(broker.process.pid!, '0');
    pin(process.pid, '1');
    const oneCore = await median();
    pin(broker.process.pid!, '0,1');
    pin(process.pid, '0,1');
    return { oneCore, twoCores: await median() };
  } finally {
    pin(process.pid, '0,1');
  }
}

async function main(): Promise<void> {
  const base = resolve(process.env.BENCH_DIR ?? '.bench-data');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'ingest-'));
  const brokers: Broker[] = [];
  const cleanup = (): void => {
    for (const b of brokers) b.process.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => (cleanup(), process.exit(130)));
  try {
    const mosquitto = await startMosquittoBroker(dir);
    brokers.push(mosquitto);
    const tributary = await startTributary(join(dir, 'data'));
    brokers.push(tributary);
    const bareAedes = await startBareAedes();
    brokers.push(bareAedes);

    // Warm-up (JIT, SQLite caches, TCP), then alternating runs so that drift hits both alike.
    for (const b of brokers) await runRawPublisher({ host: '127.0.0.1', port: b.port, connections: CONNECTIONS, payloadBytes: PAYLOAD, window: WINDOW, durationMs: 1000, clientIdPrefix: `${b.name}-warm` });
    const runs: Record<Broker['name'], Array<Awaited<ReturnType<typeof drive>>>> = { mosquitto: [], tributary: [], 'bare-aedes': [] };
    const runs5: typeof runs = { mosquitto: [], tributary: [], 'bare-aedes': [] };
    for (let i = 0; i < RUNS; i++) {
      for (const b of brokers) runs[b.name].push(await drive(b));
      for (const b of brokers) runs5[b.name].push(await drive(b, undefined, 5));
    }
    const fixed = { mosquitto: await drive(mosquitto, RATE), tributary: await drive(tributary, RATE), 'bare-aedes': await drive(bareAedes, RATE) };
    const fixed5 = { mosquitto: await drive(mosquitto, RATE, 5), tributary: await drive(tributary, RATE, 5), 'bare-aedes': await drive(bareAedes, RATE, 5) };
    const summary = summarize(brokers, runs, fixed);
    const summary5 = summarize(brokers, runs5, fixed5);
    const ratio = Number((summary.tributary.msgsPerSec / summary.mosquitto.msgsPerSec).toFixed(2));
    const ratio5 = Number((summary5.tributary.msgsPerSec / summary5.mosquitto.msgsPerSec).toFixed(2));

    console.log(`MQTT QoS 1 ingest, ${CONNECTIONS} connections x ${WINDOW} in flight, ${PAYLOAD}-byte payloads, ${RUNS} x ${SECONDS} s each`);
    for (const [label, s, r] of [['MQTT 3.1.1', summary, ratio], ['MQTT 5.0', summary5, ratio5]] as const) {
      console.log(`\n${label}`);
      printTable(brokers, s);
      console.log(`ratio tributary / mosquitto: ${r}x (Tributary fsyncs before each PUBACK; Mosquitto keeps messages in memory)`);
      console.log(`reference: bare aedes / mosquitto ${(s['bare-aedes'].msgsPerSec / s.mosquitto.msgsPerSec).toFixed(2)}x, tributary / bare aedes ${(s.tributary.msgsPerSec / s['bare-aedes'].msgsPerSec).toFixed(2)}x`);
    }
    let scalingFigures: Record<'mosquitto' | 'tributary', { oneCore: number; twoCores: number }> | null = null;
    if (SCALING) {
      scalingFigures = { mosquitto: await scaling(mosquitto), tributary: await scaling(tributary) };
      console.log('\nScaling (MQTT 3.1.1): the broker pinned to 1 core (the generator on the other), then on both (taskset)');
      for (const [name, f] of Object.entries(scalingFigures)) console.log(`${name.padEnd(10)} 1 core ${String(f.oneCore).padStart(8)} msgs/s   2 cores ${String(f.twoCores).padStart(8)} msgs/s   ${(f.twoCores / f.oneCore).toFixed(2)}x`);
      console.log(`tributary / mosquitto: ${(scalingFigures.tributary.oneCore / scalingFigures.mosquitto.oneCore).toFixed(2)}x on 1 core, ${(scalingFigures.tributary.twoCores / scalingFigures.mosquitto.twoCores).toFixed(2)}x on 2 cores`);
    }
    console.log(
      JSON.stringify({ bench: 'ingest', connections: CONNECTIONS, window: WINDOW, payloadBytes: PAYLOAD, qos: 1, durability: 'fsync', seconds: SECONDS, rate: RATE, ...summary, ratio, v5: { ...summary5, ratio: ratio5 }, scaling: scalingFigures }),
    );
  } finally {
    cleanup();
  }
}

type Summary = Record<Broker['name'], { msgsPerSec: number; runs: number[]; brokerCpuCores: number; generatorCpuCores: number; p50Ms: number | null; p99Ms: number | null }>;

function summarize(brokers: Broker[], runs: Record<Broker['name'], Array<RawPublisherResult & { brokerCpu: number }>>, fixed: Record<Broker['name'], RawPublisherResult>): Summary {
  return Object.fromEntries(
    brokers.map((b) => {
      const r = runs[b.name];
      return [
        b.name,
        {
          msgsPerSec: Math.round(median(r.map((x) => x.msgsPerSec))),
          runs: r.map((x) => Math.round(x.msgsPerSec)),
          brokerCpuCores: Number(median(r.map((x) => x.brokerCpu)).toFixed(2)),
          generatorCpuCores: Number(median(r.map((x) => x.cpuShare)).toFixed(2)),
          p50Ms: fixed[b.name].latency?.p50Ms ?? null,
          p99Ms: fixed[b.name].latency?.p99Ms ?? null,
        },
      ];
    }),
  ) as Summary;
}

function printTable(brokers: Broker[], summary: Summary): void {
  const rows = [
    ['broker', 'msgs/s (median)', 'runs', 'broker CPU', 'generator CPU', `p50 @${RATE / 1000}k/s`, `p99 @${RATE / 1000}k/s`],
    ...brokers.map((b) => {
      const s = summary[b.name];
      return [b.name, String(s.msgsPerSec), s.runs.join(' '), `${s.brokerCpuCores} cores`, `${s.generatorCpuCores} cores`, `${s.p50Ms} ms`, `${s.p99Ms} ms`];
    }),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
}

await main();
