// `npm run bench:replay`: how fast stored telemetry comes back out. Stores 1M records (JSON
// sensor readings with the headers the MQTT front end stores), then in the same run measures
//   ceiling:  a bare Log.read loop over the whole partition, in process (decoded, CRC-checked)
//   scan:     a bare Log.readBatches loop walking each batch's records without decoding them: the
//             reference for the NDJSON fast path, which writes lines from the batches this way
//   HTTP:     GET /api/topics/{topic}/records as NDJSON from a running node, read by curl to /dev/null
//   CLI:      tributary replay --url (node running) and --data-dir (node stopped), to /dev/null
// and prints records/s and the ratio to the ceiling. Goal: >= 500k records/s as NDJSON over HTTP.
// Each case runs RUNS times; the best run counts (the machine is shared; the best run is the one
// least disturbed). Beside wall-clock rates it reports CPU time per record of the process that
// does the work (the ceiling's own process, the node for HTTP, the CLI for the CLI cases): on a
// busy machine the wall clock measures the neighbours, CPU time still measures the code.
// Last line: one JSON object {"bench":"replay", ...}.
//
// BENCH_DIR picks the directory (default .bench-data); BENCH_QUICK=1 stores 100k records.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Log } from '../broker/log/log.js';
import { RecordView, scanBatch, type RecordInput } from '../broker/log/record-batch.js';
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { cpuSeconds, freePort, waitForPort } from './processes.js';

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
  /** CPU seconds the working process spent on the best run. */
  cpuSeconds: number;
}

interface Run {
  seconds: number;
  cpuSeconds: number;
}

/** CPU seconds of this process's waited-for children (cutime + cstime of /proc/self/stat). */
function childrenCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
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

async function bareRead(dataDir: string): Promise<Run> {
  const log = await Log.open({ dataDir });
  try {
    const cpu = ownCpuSeconds();
    const start = process.hrtime.bigint();
    let offset = 0;
    let count = 0;
    while (offset < TOTAL) {
      const r = log.read(TOPIC, 0, offset, { maxRecords: 2000 });
      count += r.records.length;
      offset = r.nextOffset;
    }
    if (count !== TOTAL) throw new Error(`bare read saw ${count} records`);
    return { seconds: Number(process.hrtime.bigint() - start) / 1e9, cpuSeconds: ownCpuSeconds() - cpu };
  } finally {
    await log.close();
  }
}

/** The fast path's own reference: stored batches read (Log.readBatches) and walked record by record. */
async function bareScan(dataDir: string): Promise<Run> {
  const log = await Log.open({ dataDir });
  try {
    const view = new RecordView();
    const cpu = ownCpuSeconds();
    const start = process.hrtime.bigint();
    let offset = 0;
    let count = 0;
    while (offset < TOTAL) {
      for (const batch of log.readBatches(TOPIC, 0, offset, 1024 * 1024)) {
        scanBatch(batch.bytes, view, () => count++);
        offset = batch.lastOffset + 1;
      }
    }
    if (count !== TOTAL) throw new Error(`bare scan saw ${count} records`);
    return { seconds: Number(process.hrtime.bigint() - start) / 1e9, cpuSeconds: ownCpuSeconds() - cpu };
  } finally {
    await log.close();
  }
}

/**
 * Runs a command with stdout to /dev/null; resolves with its wall time and the CPU time of
 * `worker` (a running process, the node) or else of the command itself.
 */
function timed(file: string, args: string[], worker?: ChildProcess): Promise<Run> {
  const devNull = openSync('/dev/null', 'w');
  const cpu = worker === undefined ? childrenCpuSeconds() : cpuSeconds(worker);
  const start = process.hrtime.bigint();
  const child = spawn(file, args, { stdio: ['ignore', devNull, 'inherit'] });
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => {
      closeSync(devNull);
      if (code !== 0) fail(new Error(`${file} ${args.join(' ')} exited with ${code}`));
      else done({ seconds: Number(process.hrtime.bigint() - start) / 1e9, cpuSeconds: (worker === undefined ? childrenCpuSeconds() : cpuSeconds(worker)) - cpu });
    });
  });
}

async function best(name: string, run: () => Promise<Run>): Promise<Case> {
  let top: Run = { seconds: Infinity, cpuSeconds: Infinity };
  for (let i = 0; i < RUNS; i++) {
    const r = await run();
    if (r.seconds < top.seconds) top = r;
  }
  return { name, seconds: top.seconds, recordsPerSec: TOTAL / top.seconds, cpuSeconds: top.cpuSeconds };
}

async function withNode<T>(dataDir: string, fn: (url: string, node: ChildProcess) => Promise<T>): Promise<T> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, '--http-port', String(port), '--mqtt-port', '0', '--ws-port', '0'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LOG_LEVEL: 'warn' },
  });
  try {
    await waitForPort(port, child, 'tributary');
    return await fn(`http://127.0.0.1:${port}`, child);
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
    const scan = await best('bare Log.readBatches + scanBatch loop (in process)', () => bareScan(dataDir));
    const cliDataDir = await best('CLI: replay --data-dir (node stopped) > /dev/null', () => timed(process.execPath, [CLI, 'replay', '--data-dir', dataDir, '--topic', TOPIC]));
    const [http, cliHttp] = await withNode(dataDir, async (url, node) => [
      await best('HTTP: GET .../records NDJSON, curl > /dev/null', () => timed('curl', ['-sSf', '-o', '/dev/null', `${url}/api/topics/${TOPIC}/records`], node)),
      await best('CLI: replay --url (node running) > /dev/null', () => timed(process.execPath, [CLI, 'replay', '--url', url, '--topic', TOPIC])),
    ]);

    const cases = [ceiling, scan, http, cliHttp, cliDataDir];
    const rows = [['case', 'records/s', 'seconds', 'vs ceiling', 'CPU µs/record', 'records/CPU-s']];
    for (const c of cases) {
      rows.push([c.name, fmt(c.recordsPerSec), c.seconds.toFixed(2), `${(c.recordsPerSec / ceiling.recordsPerSec).toFixed(2)}x`, ((c.cpuSeconds / TOTAL) * 1e6).toFixed(2), fmt(TOTAL / c.cpuSeconds)]);
    }
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
        bareScanRecordsPerSec: Math.round(scan.recordsPerSec),
        httpNdjsonRecordsPerSec: Math.round(http.recordsPerSec),
        cliHttpRecordsPerSec: Math.round(cliHttp.recordsPerSec),
        cliDataDirRecordsPerSec: Math.round(cliDataDir.recordsPerSec),
        httpVsBareRead: Number((http.recordsPerSec / ceiling.recordsPerSec).toFixed(3)),
        cliHttpVsBareRead: Number((cliHttp.recordsPerSec / ceiling.recordsPerSec).toFixed(3)),
        cliDataDirVsBareRead: Number((cliDataDir.recordsPerSec / ceiling.recordsPerSec).toFixed(3)),
        // Records per CPU-second of the working process: the bare read's own, the node's (HTTP),
        // the CLI's; what each path would do with a core to itself.
        recordsPerCpuSecond: {
          bareRead: Math.round(TOTAL / ceiling.cpuSeconds),
          bareScan: Math.round(TOTAL / scan.cpuSeconds),
          httpNdjsonNode: Math.round(TOTAL / http.cpuSeconds),
          cliHttp: Math.round(TOTAL / cliHttp.cpuSeconds),
          cliDataDir: Math.round(TOTAL / cliDataDir.cpuSeconds),
        },
        target: { httpNdjsonRecordsPerSec: GOAL },
        met: { httpNdjsonRecordsPerSec: http.recordsPerSec >= GOAL },
      }),
    );
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

await main();
