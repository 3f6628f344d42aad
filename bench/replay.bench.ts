// `npm run bench:replay`: how fast stored telemetry comes back out. Stores 1M records (JSON
// sensor readings with the headers the MQTT front end stores), then in the same run measures
//   ceiling:  a bare Log.read loop over the whole partition, in process (decoded, CRC-checked)
//   HTTP:     GET /api/topics/{topic}/records as NDJSON from a running node, read by curl to /dev/null
//   CLI:      tributary replay --url (node running) and --data-dir (node stopped), to /dev/null
// and prints records/s and the ratio to the ceiling. Goal: >= 500k records/s as NDJSON over HTTP.
// Each case runs RUNS times; the best run counts (the machine is shared; the best run is the one
// least disturbed). Last line: one JSON object {"bench":"replay", ...}.
//
// BENCH_DIR picks the directory (default .bench-data); BENCH_QUICK=1 stores 100k records.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Log } from '../broker/log/log.js';
import type { RecordInput } from '../broker/log/record-batch.js';
import { freePort, waitForPort } from './processes.js';

const QUICK = process.env.BENCH_QUICK === '1';
const TOTAL = QUICK ? 100_000 : 1_000_000;
const RUNS = 3;
const TOPIC = 'telemetry';
const GOAL = 500_000;
const CLI = fileURLToPath(new URL('../bridge/cli.js', import.meta.url));

interface Case {
  name: string;
  seconds: number;
  recordsPerSec: number;
}

/** What the MQTT front end stores for a sensor's JSON reading. */
function readings(from: number, count: number, t0: number): RecordInput[] {
  return Array.from({ length: count }, (_, j) => {
    const i = from + j;
    const sensor = `sensor-${i % 200}`;
    return {
      timestamp: t0 + i,
      key: Buffer.from(sensor),
      value: Buffer.from(`{"sensor":"${sensor}","temp":${(20 + (i % 100) / 10).toFixed(1)},"humidity":${40 + (i % 30)},"seq":${i}}`),
      headers: [
        ['mqtt.topic', Buffer.from(`plant-1/line-${i % 4}/${sensor}`)],
        ['mqtt.qos', Buffer.from('1')],
        ['mqtt.retain', Buffer.from('false')],
      ] as const,
    };
  });
}

async function store(dataDir: string): Promise<{ bytes: number }> {
  const log = await Log.open({ dataDir, durability: 'write', topics: [{ name: TOPIC, partitions: 1 }] });
  const t0 = Date.now() - TOTAL; // recent: the node's default retention (7 days) keeps it all
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < TOTAL; i += 1000) pending.push(log.append(TOPIC, 0, readings(i, 1000, t0)));
  await Promise.all(pending);
  const bytes = log.topics()[0]!.partitions[0]!.bytes;
  await log.close();
  return { bytes };
}

async function bareRead(dataDir: string): Promise<number> {
  const log = await Log.open({ dataDir });
  try {
    const start = process.hrtime.bigint();
    let offset = 0;
    let count = 0;
    while (offset < TOTAL) {
      const r = log.read(TOPIC, 0, offset, { maxRecords: 2000 });
      count += r.records.length;
      offset = r.nextOffset;
    }
    if (count !== TOTAL) throw new Error(`bare read saw ${count} records`);
    return Number(process.hrtime.bigint() - start) / 1e9;
  } finally {
    await log.close();
  }
}

/** Runs a command with stdout to /dev/null; resolves with its wall time. */
function timed(file: string, args: string[]): Promise<number> {
  const devNull = openSync('/dev/null', 'w');
  const start = process.hrtime.bigint();
  const child = spawn(file, args, { stdio: ['ignore', devNull, 'inherit'] });
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => {
      closeSync(devNull);
      if (code !== 0) fail(new Error(`${file} ${args.join(' ')} exited with ${code}`));
      else done(Number(process.hrtime.bigint() - start) / 1e9);
    });
  });
}

async function best(name: string, run: () => Promise<number>): Promise<Case> {
  let seconds = Infinity;
  for (let i = 0; i < RUNS; i++) seconds = Math.min(seconds, await run());
  return { name, seconds, recordsPerSec: TOTAL / seconds };
}

async function withNode<T>(dataDir: string, fn: (url: string) => Promise<T>): Promise<T> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, '--http-port', String(port), '--mqtt-port', '0', '--ws-port', '0'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  try {
    await waitForPort(port, child, 'tributary');
    return await fn(`http://127.0.0.1:${port}`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((done) => child.on('close', done));
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

async function main(): Promise<void> {
  const root = resolve(process.env.BENCH_DIR ?? '.bench-data');
  mkdirSync(root, { recursive: true });
  const runDir = mkdtempSync(join(root, 'replay-'));
  try {
    const dataDir = join(runDir, 'data');
    const { bytes } = await store(dataDir);
    const ceiling = await best('ceiling: bare Log.read loop (in process)', () => bareRead(dataDir));
    const cliDataDir = await best('CLI: replay --data-dir (node stopped) > /dev/null', () => timed(process.execPath, [CLI, 'replay', '--data-dir', dataDir, '--topic', TOPIC]));
    const [http, cliHttp] = await withNode(dataDir, async (url) => [
      await best('HTTP: GET .../records NDJSON, curl > /dev/null', () => timed('curl', ['-sSf', '-o', '/dev/null', `${url}/api/topics/${TOPIC}/records`])),
      await best('CLI: replay --url (node running) > /dev/null', () => timed(process.execPath, [CLI, 'replay', '--url', url, '--topic', TOPIC])),
    ]);

    const cases = [ceiling, http, cliHttp, cliDataDir];
    const rows = [['case', 'records/s', 'seconds', 'vs ceiling']];
    for (const c of cases) rows.push([c.name, fmt(c.recordsPerSec), c.seconds.toFixed(2), `${(c.recordsPerSec / ceiling.recordsPerSec).toFixed(2)}x`]);
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    console.log(
      JSON.stringify({
        bench: 'replay',
        records: TOTAL,
        storedBytes: bytes,
        runs: RUNS,
        quick: QUICK,
        bareReadRecordsPerSec: Math.round(ceiling.recordsPerSec),
        httpNdjsonRecordsPerSec: Math.round(http.recordsPerSec),
        cliHttpRecordsPerSec: Math.round(cliHttp.recordsPerSec),
        cliDataDirRecordsPerSec: Math.round(cliDataDir.recordsPerSec),
        httpVsBareRead: Number((http.recordsPerSec / ceiling.recordsPerSec).toFixed(3)),
        cliHttpVsBareRead: Number((cliHttp.recordsPerSec / ceiling.recordsPerSec).toFixed(3)),
        cliDataDirVsBareRead: Number((cliDataDir.recordsPerSec / ceiling.recordsPerSec).toFixed(3)),
        target: { httpNdjsonRecordsPerSec: GOAL },
        met: { httpNdjsonRecordsPerSec: http.recordsPerSec >= GOAL },
      }),
    );
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

await main();
