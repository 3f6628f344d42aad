// `npm run bench:log`: append and read throughput of the edge commit log, beside a floor and a
// ceiling measured in the same run on the same disk:
//   floor:   a bare better-sqlite3 loop, one row per record, 1000-record transactions (WAL, FULL)
//   ceiling: raw fs appends of the same bytes with fdatasync per 1000-record batch
// Prints a table, then one JSON line ({"bench":"log", ...}) with every figure.
//
// BENCH_DIR picks the directory (default: .bench-data in the working directory, so that it sits
// on the same disk a data directory would; /tmp may be a tmpfs, where fsync costs nothing).
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { Log, type Durability } from '../broker/log/log.js';
import type { RecordInput } from '../broker/log/record-batch.js';

const RECORD_SIZE = 100;
const IN_FLIGHT = 32; // concurrent appends, as many publishers would make
const BATCH_SIZES = [1, 100, 1000] as const;
const DURABILITIES: Durability[] = ['fsync', 'interval', 'write'];
const QUICK = process.env.BENCH_QUICK === '1';

interface Rate {
  records: number;
  seconds: number;
  recordsPerSec: number;
  mbPerSec: number;
}

function rate(records: number, seconds: number): Rate {
  return { records, seconds, recordsPerSec: records / seconds, mbPerSec: (records * RECORD_SIZE) / seconds / 1e6 };
}

function recordsFor(batchSize: number): RecordInput[] {
  const value = Buffer.alloc(RECORD_SIZE, 'x');
  const now = Date.now();
  return Array.from({ length: batchSize }, (_, i) => ({ timestamp: now + i, key: null, value }));
}

/** How many records each case writes: enough for a steady rate, small enough for a short run. */
function totalFor(batchSize: number, durability: Durability): number {
  const base = batchSize === 1 ? (durability === 'fsync' ? 20_000 : 50_000) : batchSize === 100 ? 300_000 : 1_000_000;
  return QUICK ? Math.ceil(base / 10) : base;
}

async function benchAppend(root: string, durability: Durability, batchSize: number): Promise<Rate> {
  const dataDir = mkdtempSync(join(root, `log-${durability}-${batchSize}-`));
  const log = await Log.open({ dataDir, durability, topics: [{ name: 'bench', partitions: 1 }] });
  const batch = recordsFor(batchSize);
  const batches = Math.ceil(totalFor(batchSize, durability) / batchSize);
  let next = 0;
  const start = process.hrtime.bigint();
  const lane = async (): Promise<void> => {
    while (next < batches) {
      next++;
      await log.append('bench', 0, batch);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await log.close();
  rmSync(dataDir, { recursive: true, force: true });
  return rate(batches * batchSize, seconds);
}

async function benchRead(root: string): Promise<Rate> {
  const dataDir = mkdtempSync(join(root, 'read-'));
  const log = await Log.open({ dataDir, durability: 'write', topics: [{ name: 'bench', partitions: 1 }] });
  const total = QUICK ? 100_000 : 1_000_000;
  const batch = recordsFor(1000);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < total / 1000; i++) pending.push(log.append('bench', 0, batch));
  await Promise.all(pending);
  const start = process.hrtime.bigint();
  let offset = 0;
  let count = 0;
  while (offset < total) {
    const result = log.read('bench', 0, offset, { maxRecords: 10_000, maxBytes: 16 * 1024 * 1024 });
    count += result.records.length;
    offset = result.nextOffset;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await log.close();
  rmSync(dataDir, { recursive: true, force: true });
  return rate(count, seconds);
}

function benchBareSqlite(root: string): Rate {
  const dir = mkdtempSync(join(root, 'sqlite-'));
  const db = new Database(join(dir, 'bare.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE records (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, value BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO records (ts, value) VALUES (?, ?)');
  const value = Buffer.alloc(RECORD_SIZE, 'x');
  const insertMany = db.transaction((n: number) => {
    for (let i = 0; i < n; i++) insert.run(Date.now(), value);
  });
  const total = QUICK ? 100_000 : 1_000_000;
  const start = process.hrtime.bigint();
  for (let done = 0; done < total; done += 1000) insertMany(1000);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return rate(total, seconds);
}

function benchRawFile(root: string): Rate {
  const dir = mkdtempSync(join(root, 'raw-'));
  const fd = openSync(join(dir, 'raw.log'), 'a');
  const chunk = Buffer.alloc(RECORD_SIZE * 1000, 'x');
  const total = QUICK ? 100_000 : 1_000_000;
  const start = process.hrtime.bigint();
  for (let done = 0; done < total; done += 1000) {
    writeSync(fd, chunk);
    fdatasyncSync(fd);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  return rate(total, seconds);
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

async function main(): Promise<void> {
  const root = resolve(process.env.BENCH_DIR ?? '.bench-data');
  mkdirSync(root, { recursive: true });
  const runDir = mkdtempSync(join(root, 'run-'));
  try {
    const rawFile = benchRawFile(runDir);
    const bareSqlite = benchBareSqlite(runDir);
    const appends: Record<string, Record<string, Rate>> = {};
    for (const durability of DURABILITIES) {
      appends[durability] = {};
      for (const size of BATCH_SIZES) appends[durability]![`batch${size}`] = await benchAppend(runDir, durability, size);
    }
    const read = await benchRead(runDir);

    const rows: string[][] = [['case', 'records/s', 'MB/s', 'vs raw file']];
    const row = (name: string, r: Rate): void => {
      rows.push([name, fmt(r.recordsPerSec), fmt(r.mbPerSec), `${(r.recordsPerSec / rawFile.recordsPerSec).toFixed(2)}x`]);
    };
    row('ceiling: raw fs append + fdatasync / 1000 records', rawFile);
    row('floor: bare better-sqlite3, 1000-record txns', bareSqlite);
    for (const durability of DURABILITIES) {
      for (const size of BATCH_SIZES) row(`log append, ${durability}, batch ${size}`, appends[durability]![`batch${size}`]!);
    }
    row('log read from offset 0', read);
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));

    const durableRatio = appends.fsync!.batch1000!.recordsPerSec / rawFile.recordsPerSec;
    const summary = {
      bench: 'log',
      recordBytes: RECORD_SIZE,
      inFlight: IN_FLIGHT,
      quick: QUICK,
      rawFileRecordsPerSec: Math.round(rawFile.recordsPerSec),
      bareSqliteRecordsPerSec: Math.round(bareSqlite.recordsPerSec),
      appendRecordsPerSec: Object.fromEntries(
        Object.entries(appends).map(([d, cases]) => [d, Object.fromEntries(Object.entries(cases).map(([k, r]) => [k, Math.round(r.recordsPerSec)]))]),
      ),
      readRecordsPerSec: Math.round(read.recordsPerSec),
      durableBatch1000VsRawFile: Number(durableRatio.toFixed(3)),
      targets: { durableBatch1000VsRawFile: 0.5, readRecordsPerSec: 1_000_000 },
      met: { durableBatch1000VsRawFile: durableRatio >= 0.5, readRecordsPerSec: read.recordsPerSec >= 1_000_000 },
    };
    console.log(JSON.stringify(summary));
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

await main();
