// `npm run bench:disk`: how much disk the log takes for what it stores, beside the peer: a raw
// append-only file holding the same batches (Kafka's segment files are that, plus ~1 % of indexes).
//
//   1. The MQTT loads, Tributary as a child process with `log.retention.maxBytes: 30MB` and its
//      retention every 10 s: 8 raw connections x 2,000 QoS 1 msg/s, and 1,000 devices x 10 msg/s.
//      The data directory's on-disk bytes (allocated blocks of every file, as `du`) are sampled
//      every second once the cap is reached; the goal is <= 1.25 x cap + 16 MB at all times.
//   2. A 1 GB cap, filled through the log's API (no MQTT, to reach steady state in seconds) with
//      batches of 5 KB and of 400 bytes (the two loads' batch sizes), 1.6 GB written each.
// After each run the batches the log holds are written to a raw file (one write and one fdatasync
// per 1 MB): on-disk bytes per stored byte, Tributary's beside the raw file's (1.0x). Part 2 also
// times the appends beside raw file appends of the same batches (fdatasync per 1 MB group).
// Prints a table, then one JSON line ({"bench":"disk", ...}).
//
// BENCH_QUICK=1: 40 s per MQTT load and 0.6 GB per 1 GB-cap run (the cap is then not reached:
// only the MQTT loads are judged). BENCH_LONG=1: also both MQTT loads at a 1 GB cap (11 min each).
// BENCH_ONLY=text: only the scenarios whose name holds it. BENCH_DIR: where the data lives (default .bench-data, on the
// disk a data directory would be on).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fdatasyncSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureDiskUse } from '../broker/log/disk-budget.js';
import { Log } from '../broker/log/log.js';
import { runRawPublisher } from '../device-sim/raw-publisher.js';
import { benchScratch, connectionLimitsEnv, freePort, startScriptSettings, waitForPort } from './processes.js';

const QUICK = process.env.BENCH_QUICK === '1';
const MB = 1_000_000;
const SLACK = 16 * MB;
const GOAL = 1.25;
const CLI = fileURLToPath(new URL('../bridge/cli.js', import.meta.url));
const LAUNCH = startScriptSettings();

interface Row {
  scenario: string;
  capBytes: number;
  /** The largest on-disk size of the data directory seen at steady state. */
  maxDiskBytes: number;
  meanDiskBytes: number;
  storedBytes: number;
  /** On-disk bytes per stored byte: Tributary's, and the raw file's with the same batches. */
  diskPerStored: number;
  rawPerStored: number;
  goalMet: boolean;
  appendMBps?: number;
  rawAppendMBps?: number;
  msgsPerSec?: number;
}

async function startTributary(dir: string, capBytes: number, devices: number): Promise<{ port: number; process: ChildProcess }> {
  const port = await freePort();
  const config = join(dir, 'tributary.yaml');
  writeFileSync(config, `log:\n  retention: { maxBytes: ${capBytes} }\n  retentionSchedule: "*/10 * * * * *"\n`);
  const child = spawn(process.execPath, [...LAUNCH.nodeFlags, CLI, 'start', '--config', config, '--data-dir', join(dir, 'data'), '--mqtt-port', String(port), '--ws-port', '0', '--http-port', '0'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...LAUNCH.env,
      ...process.env,
      LOG_LEVEL: 'warn',
      ...connectionLimitsEnv(devices),
    },
  });
  await waitForPort(port, child, 'tributary');
  return { port, process: child };
}

/** Samples the data directory every second while `work` runs, from when `steady()` first holds. */
async function sampleWhile<T>(dataDir: string, steady: (diskBytes: number) => boolean, work: Promise<T>): Promise<{ result: T; samples: number[] }> {
  const samples: number[] = [];
  let reached = false;
  const timer = setInterval(() => {
    const used = measureDiskUse(dataDir).usedBytes;
    reached ||= steady(used);
    if (reached) samples.push(used);
  }, 1000);
  try {
    return { result: await work, samples };
  } finally {
    clearInterval(timer);
  }
}

/** Writes the log's batches to a raw file as a segment would hold them; returns its bytes and the batch bytes. */
async function rawCopy(log: Log, file: string): Promise<{ rawBytes: number; storedBytes: number; seconds: number }> {
  const fd = openSync(file, 'w');
  let storedBytes = 0;
  let seconds = 0; // writing and syncing only, not reading the log
  try {
    for (const topic of log.topics()) {
      for (const p of topic.partitions) {
        for (let from = p.logStartOffset; from < p.highWatermark; ) {
          const batches = log.readBatches(topic.name, p.partition, from, MB);
          if (batches.length === 0) break;
          const started = performance.now();
          for (const b of batches) writeSync(fd, b.bytes);
          fdatasyncSync(fd);
          seconds += (performance.now() - started) / 1000;
          storedBytes += batches.reduce((sum, b) => sum + b.bytes.length, 0);
          from = batches.at(-1)!.lastOffset + 1;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return { rawBytes: statSync(file).blocks * 512, storedBytes, seconds };
}

async function mqttLoad(dir: string, scenario: string, connections: number, rate: number, cap = 30 * MB, seconds = QUICK ? 40 : 90): Promise<Row> {
  const node = await startTributary(dir, cap, connections);
  const dataDir = join(dir, 'data');
  const load = runRawPublisher({
    host: '127.0.0.1',
    port: node.port,
    connections,
    payloadBytes: 100,
    rate,
    window: 100,
    durationMs: seconds * 1000,
    clientIdPrefix: 'disk-bench-',
    topic: (i) => `factory/site-${i % 4}/line-${i % 10}/device-${i}/telemetry`,
  });
  const { result, samples } = await sampleWhile(dataDir, (used) => used >= cap, load);
  await new Promise<void>((done) => (node.process.once('exit', () => done()), node.process.kill('SIGTERM')));
  if (result.acked !== result.sent) throw new Error(`${scenario}: ${result.sent - result.acked} messages never acknowledged`);
  const log = await Log.open({ dataDir });
  try {
    return row(scenario, cap, samples, await rawCopy(log, join(dir, 'raw.segment')), { msgsPerSec: Math.round(result.msgsPerSec) });
  } finally {
    await log.close();
  }
}

/** Appends `total` bytes of batches of about `batchBytes` to a log with a 1 GB cap, and the same to a raw file. */
async function apiFill(dir: string, scenario: string, batchBytes: number): Promise<Row> {
  const cap = 1000 * MB;
  const total = QUICK ? 600 * MB : 1600 * MB;
  const dataDir = join(dir, `api-${batchBytes}`);
  const log = await Log.open({ dataDir, topics: [{ name: 'telemetry', partitions: 4, retention: { maxAgeMs: null, maxBytes: cap / 4 } }] });
  const perRecord = 110;
  const records = Array.from({ length: Math.max(1, Math.round(batchBytes / perRecord)) }, (_, i) => ({ timestamp: Date.now(), key: null, value: Buffer.alloc(100, 97 + (i % 26)) }));
  let appended = 0;
  const started = performance.now();
  const work = (async (): Promise<void> => {
    const inFlight: Promise<unknown>[] = [];
    for (let i = 0; appended < total; i++) {
      inFlight.push(log.append('telemetry', i % 4, records).then((info) => (appended += (info.lastOffset - info.baseOffset + 1) * perRecord)));
      if (inFlight.length >= 32) await Promise.race(inFlight.splice(0, 1));
    }
    await Promise.all(inFlight);
  })();
  const { samples } = await sampleWhile(dataDir, (used) => used >= cap, work);
  const appendMBps = appended / MB / ((performance.now() - started) / 1000);
  try {
    const copy = await rawCopy(log, join(dir, 'raw.segment'));
    return row(scenario, cap, samples, copy, { appendMBps: round(appendMBps), rawAppendMBps: round(copy.storedBytes / MB / copy.seconds) });
  } finally {
    await log.close();
  }
}

function row(scenario: string, cap: number, samples: number[], copy: { rawBytes: number; storedBytes: number }, extra: Partial<Row>): Row {
  const maxDiskBytes = samples.length === 0 ? NaN : Math.max(...samples);
  const meanDiskBytes = samples.length === 0 ? NaN : samples.reduce((a, b) => a + b, 0) / samples.length;
  return {
    scenario,
    capBytes: cap,
    maxDiskBytes,
    meanDiskBytes: Math.round(meanDiskBytes),
    storedBytes: copy.storedBytes,
    diskPerStored: round(meanDiskBytes / copy.storedBytes, 3),
    rawPerStored: round(copy.rawBytes / copy.storedBytes, 3),
    goalMet: samples.length > 0 && maxDiskBytes <= GOAL * cap + SLACK,
    ...extra,
  };
}

const round = (n: number, digits = 1): number => Number(n.toFixed(digits));

async function main(): Promise<void> {
  const rows: Row[] = [];
  const scenarios: Array<[string, (dir: string) => Promise<Row>]> = [
    ['MQTT 8 x 2,000 msg/s, cap 30 MB', (dir) => mqttLoad(dir, 'MQTT 8 x 2,000 msg/s, cap 30 MB', 8, 16_000)],
    ['MQTT 1,000 devices x 10 msg/s, cap 30 MB', (dir) => mqttLoad(dir, 'MQTT 1,000 devices x 10 msg/s, cap 30 MB', 1000, 10_000)],
    ['log API, 5 KB batches, cap 1 GB', (dir) => apiFill(dir, 'log API, 5 KB batches, cap 1 GB', 5000)],
    ['log API, 400 B batches, cap 1 GB', (dir) => apiFill(dir, 'log API, 400 B batches, cap 1 GB', 400)],
  ];
  // BENCH_LONG=1: the two MQTT loads at a 1 GB cap too, for 11 minutes each (about 8 to fill it).
  if (process.env.BENCH_LONG === '1') {
    scenarios.push(
      ['MQTT 8 x 2,000 msg/s, cap 1 GB', (dir) => mqttLoad(dir, 'MQTT 8 x 2,000 msg/s, cap 1 GB', 8, 16_000, 1000 * MB, 660)],
      ['MQTT 1,000 devices x 10 msg/s, cap 1 GB', (dir) => mqttLoad(dir, 'MQTT 1,000 devices x 10 msg/s, cap 1 GB', 1000, 10_000, 1000 * MB, 660)],
    );
  }
  const only = process.env.BENCH_ONLY; // e.g. "cap 1 GB": the scenarios whose name holds it
  for (const [name, run] of scenarios.filter(([n]) => only === undefined || n.includes(only))) {
    const { dir, children, cleanup } = benchScratch('disk');
    void children;
    try {
      rows.push(await run(dir));
    } finally {
      cleanup();
    }
    process.stderr.write(`done: ${name}\n`);
  }
  const mb = (n: number): string => (Number.isNaN(n) ? '-' : `${(n / MB).toFixed(1)} MB`);
  const table = [
    ['scenario', 'cap', 'disk (max)', 'disk (mean)', 'stored', 'disk/stored', 'raw file/stored', 'goal', 'appends', 'raw appends'],
    ...rows.map((r) => [
      r.scenario,
      mb(r.capBytes),
      mb(r.maxDiskBytes),
      mb(r.meanDiskBytes),
      mb(r.storedBytes),
      `${r.diskPerStored}x`,
      `${r.rawPerStored}x`,
      Number.isNaN(r.maxDiskBytes) ? 'cap not reached' : r.goalMet ? 'met' : 'NOT met',
      r.appendMBps === undefined ? `${r.msgsPerSec} msg/s` : `${r.appendMBps} MB/s`,
      r.rawAppendMBps === undefined ? '' : `${r.rawAppendMBps} MB/s`,
    ]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  console.log(`Disk use at steady state: the data directory (all files, allocated blocks) against ${GOAL} x cap + ${SLACK / MB} MB; peer: a raw append-only file of the same batches`);
  for (const r of table) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  console.log(JSON.stringify({ bench: 'disk', quick: QUICK, goal: `<= ${GOAL} x cap + ${SLACK / MB} MB`, rows }));
}

await main();
