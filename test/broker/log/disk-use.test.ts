// The log's disk use (docs/disk.md): the layout stores a batch in about its own size, retention gives
// freed space back to the file system and also runs when a cap is crossed, byte caps count the disk
// a partition takes, and the disk budget deletes forwarded data first, then holds appends.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { TributaryError } from '../../../broker/errors.js';
import { measureDiskUse } from '../../../broker/log/disk-budget.js';
import { Log, type LogOptions, type RetentionSpec } from '../../../broker/log/log.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';

const MiB = 1024 * 1024;
const NO_RETENTION: RetentionSpec = { maxAgeMs: null, maxBytes: null };

/** `count` records of `size` bytes each: about count x (size + 10) bytes as a batch. */
function records(count: number, size: number, tag = 0): { timestamp: number; key: null; value: Buffer }[] {
  return Array.from({ length: count }, (_, i) => ({ timestamp: Date.now(), key: null, value: Buffer.alloc(size, 97 + ((tag + i) % 26)) }));
}

async function open(t: TestContext, dataDir: string, options: Partial<LogOptions> = {}, retention = NO_RETENTION): Promise<Log> {
  const log = await Log.open({ dataDir, topics: [{ name: 'm', partitions: 2, retention }], ...options });
  t.after(() => log.close());
  return log;
}

function fileBytes(dataDir: string, ...names: string[]): number {
  return names.reduce((sum, n) => sum + (statSync(join(dataDir, n), { throwIfNoEntry: false })?.size ?? 0), 0);
}

/** Appends `bytes` of 5 KB batches (the batch size of the measured load), alternating partitions. */
async function fill(log: Log, bytes: number, size = 5000): Promise<void> {
  const appends: Promise<unknown>[] = [];
  for (let i = 0; i < bytes / size; i++) {
    appends.push(log.append('m', i % 2, records(Math.max(1, Math.floor(size / 110)), 100, i)));
    if (appends.length === 64) await Promise.all(appends.splice(0));
  }
  await Promise.all(appends);
}

test('a 5 KB batch takes about its own size in the file, not a page and a half', async (t) => {
  const dataDir = tempDir(t);
  const log = await open(t, dataDir);
  await fill(log, 20 * MiB);
  await log.close();
  const stored = log.topics()[0]!.partitions.reduce((sum, p) => sum + p.bytes, 0);
  const ratio = fileBytes(dataDir, 'log.db', 'log.db-wal') / stored;
  t.diagnostic(`stored ${stored} bytes of batches in a ${fileBytes(dataDir, 'log.db')}-byte file: ${ratio.toFixed(2)}x`);
  // The WITHOUT ROWID layout of schema 2 took about 3x; rows packed into 4 KiB pages about 1.05x.
  assert.ok(ratio < 1.3, `${ratio.toFixed(2)} disk bytes per stored byte`);
});

test('space that retention frees goes back to the file system, in steps, without closing the log', async (t) => {
  const dataDir = tempDir(t);
  const log = await open(t, dataDir);
  await fill(log, 24 * MiB);
  const full = fileBytes(dataDir, 'log.db', 'log.db-wal');
  const cap = 2 * MiB;
  // A tighter cap (e.g. after an operator edits the config): the next pass cuts both partitions.
  await log.createTopic('m', 2, { maxAgeMs: null, maxBytes: cap });
  const result = await log.enforceRetention();
  assert.ok(result.bytesDeleted > 18 * MiB, `deleted ${result.bytesDeleted}`);
  // The writer hands the free pages back a step per drain; appends keep it draining.
  await waitFor(() => {
    void log.append('m', 0, records(1, 10));
    return fileBytes(dataDir, 'log.db') < 12 * MiB;
  }, 'the file to shrink', 30_000);
  const after = fileBytes(dataDir, 'log.db');
  t.diagnostic(`log.db + WAL ${full} bytes full, log.db ${after} bytes after retention to 2 x ${cap}`);
  // Partition 0 took the small appends above since.
  assert.ok(log.partition('m', 0).bytes <= cap + 64 * 1024 && log.partition('m', 1).bytes <= cap);
  assert.equal(log.read('m', 0, log.partition('m', 0).logStartOffset, { maxRecords: 1 }).records.length, 1, 'what is left reads');
});

test('retention runs when a partition crosses its byte cap, not only on its schedule', async (t) => {
  const dataDir = tempDir(t);
  const cap = 2 * MiB;
  const log = await open(t, dataDir, {}, { maxAgeMs: null, maxBytes: cap });
  await fill(log, 12 * MiB); // no enforceRetention() call and no scheduler
  // Within the cap and the slack a pass waits for (1 MiB at this cap) plus one batch; without the
  // passes each partition would hold 6 MiB.
  const withinCap = (p: number): boolean => log.partition('m', p).bytes <= cap + MiB + 5000;
  await waitFor(() => withinCap(0) && withinCap(1), 'the caps to hold', 30_000);
  assert.ok(log.partition('m', 0).logStartOffset > 0 && log.partition('m', 1).logStartOffset > 0, 'both partitions were cut');
});

test('byte caps count the disk a partition takes: the file stays near the sum of the caps', async (t) => {
  const dataDir = tempDir(t);
  const cap = 16 * MiB;
  const log = await open(t, dataDir, {}, { maxAgeMs: null, maxBytes: cap });
  for (let round = 0; round < 5; round++) {
    await fill(log, 12 * MiB, 2000); // small batches: the most overhead per byte
    await log.enforceRetention();
  }
  await log.close();
  const onDisk = fileBytes(dataDir, 'log.db', 'log.db-wal');
  const stored = log.topics()[0]!.partitions.reduce((sum, p) => sum + p.bytes, 0);
  t.diagnostic(`caps 2 x ${cap}; stored ${stored}; log.db + WAL ${onDisk}`);
  // Kept free pages (4 MiB) and the cap-crossing slack (1 MiB a partition) are the fixed part.
  // (Counting batch bytes alone, the file came to about 1.4 x the caps.)
  assert.ok(onDisk <= 2 * cap + 6 * MiB, `${onDisk} bytes on disk for caps of 2 x ${cap}`);
  assert.ok(stored < 2 * cap, 'the batches alone are under the caps: the rest is their overhead');
});

test('over the disk budget: forwarded data goes first, then appends are held (TRIB_LOG_DISK_BUDGET) until more is forwarded', async (t) => {
  const dataDir = tempDir(t);
  let forwarded = 0;
  const budget = 16 * MiB;
  const log = await open(t, dataDir, { diskBudget: { maxBytes: budget, minFreeBytes: null }, forwardedBelow: () => forwarded });
  // Fill past the budget: the checks (normally once a second) run here by hand.
  let held: unknown = null;
  for (let round = 0; round < 40 && held === null; round++) {
    try {
      await fill(log, MiB);
    } catch (err) {
      held = err;
    }
    await log.checkDiskBudget();
  }
  assert.ok(held instanceof TributaryError, `appends were held: ${String(held)}`);
  assert.equal(held.code, 'TRIB_LOG_DISK_BUDGET');
  assert.equal(held.retriable, true, 'publishers wait and retry rather than lose the message');
  assert.match(held.message, /log\.disk\.maxBytes/);
  assert.equal(log.diskStatus().holding, true);
  assert.equal(log.partition('m', 0).logStartOffset, 0, 'nothing unforwarded was deleted');
  assert.ok(measureDiskUse(dataDir).usedBytes < budget + 4 * MiB, 'the directory stayed near its budget');

  // The forwarder catches up with half of partition 0: that half may go, and appends resume.
  forwarded = Math.floor(log.partition('m', 0).logEndOffset / 2);
  await log.checkDiskBudget();
  assert.equal(log.diskStatus().holding, false);
  const start = log.partition('m', 0).logStartOffset;
  assert.ok(start > 0 && start <= forwarded, `partition 0 starts at ${start}, forwarded to ${forwarded}`);
  assert.ok(log.partition('m', 1).logStartOffset <= forwarded, 'partition 1 kept what was not forwarded');
  assert.ok(log.diskStatus().reclaimedBytes > 0);
  await log.append('m', 0, records(1, 10));
});

test('a log in the layout of schema version 2 is rebuilt on open, records and offsets unchanged', async (t) => {
  const dataDir = tempDir(t);
  const first = await Log.open({ dataDir, topics: [{ name: 'm', partitions: 2 }] });
  await fill(first, 2 * MiB);
  const before = [0, 1].map((p) => first.read('m', p, 0, { maxRecords: 1_000_000, maxBytes: 1e9 }).records.map((r) => `${r.offset}:${r.value!.toString()}`));
  await first.close();
  // Put the batches back into the schema 2 layout: WITHOUT ROWID, no auto-vacuum.
  const file = join(dataDir, 'log.db');
  const db = new Database(file);
  db.exec(`
    CREATE TABLE old_batches (partition_id INTEGER NOT NULL, base_offset INTEGER NOT NULL, last_offset INTEGER NOT NULL,
      max_timestamp INTEGER NOT NULL, ts_high INTEGER NOT NULL, leader_epoch INTEGER NOT NULL, size INTEGER NOT NULL,
      data BLOB NOT NULL, PRIMARY KEY (partition_id, base_offset)) WITHOUT ROWID;
    INSERT INTO old_batches SELECT partition_id, base_offset, last_offset, max_timestamp, ts_high, leader_epoch, size, data FROM batches;
    DROP TABLE batches;
    ALTER TABLE old_batches RENAME TO batches;
    CREATE INDEX batches_by_time ON batches (partition_id, ts_high);
    UPDATE meta SET value = '2' WHERE key = 'schema_version';
  `);
  db.pragma('journal_mode = DELETE');
  db.pragma('auto_vacuum = NONE');
  db.exec('VACUUM');
  assert.equal(db.pragma('auto_vacuum', { simple: true }), 0);
  db.close();

  const notes: string[] = [];
  const logger = { warn: (_: unknown, message: string) => notes.push(message), info: () => {}, error: () => {}, debug: () => {}, child: () => logger } as never;
  const log = await open(t, dataDir, { logger });
  const after = [0, 1].map((p) => log.read('m', p, 0, { maxRecords: 1_000_000, maxBytes: 1e9 }).records.map((r) => `${r.offset}:${r.value!.toString()}`));
  assert.deepEqual(after, before);
  assert.ok(notes.some((n) => /rebuilt in the rowid layout/.test(n)) && notes.some((n) => /incremental auto-vacuum/.test(n)), notes.join('; '));
  const check = new Database(file, { readonly: true });
  t.after(() => check.close());
  assert.doesNotMatch(check.prepare(`SELECT sql FROM sqlite_master WHERE name = 'batches'`).pluck().get() as string, /WITHOUT ROWID/i);
  assert.equal(check.pragma('auto_vacuum', { simple: true }), 2);
  assert.equal(check.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get(), '3');
  // New appends go on at the old log end.
  assert.equal((await log.append('m', 0, records(1, 10))).baseOffset, log.partition('m', 0).logEndOffset - 1);
});
