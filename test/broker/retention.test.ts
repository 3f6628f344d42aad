import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Log, type RetentionSpec } from '../../broker/log/log.js';
import { RetentionScheduler } from '../../broker/retention.js';
import { tempDir } from '../helpers/temp-dir.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

const DAY = 86_400_000;

async function openWith(t: TestContext, retention: RetentionSpec): Promise<Log> {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir, topics: [{ name: 'metrics', partitions: 1, retention }] });
  t.after(() => log.close());
  return log;
}

function batch(count: number, timestamp: number, size = 100): { timestamp: number; key: null; value: Buffer }[] {
  return Array.from({ length: count }, (_, i) => ({ timestamp: timestamp + i, key: null, value: Buffer.alloc(size, 97 + (i % 26)) }));
}

test('retention by age deletes whole old batches from the oldest end and moves the log start', async (t) => {
  const now = Date.now();
  const log = await openWith(t, { maxAgeMs: 7 * DAY, maxBytes: null });
  await log.append('metrics', 0, batch(10, now - 10 * DAY)); // offsets 0-9, too old
  await log.append('metrics', 0, batch(10, now - 8 * DAY)); // 10-19, too old
  await log.append('metrics', 0, batch(10, now - 1 * DAY)); // 20-29, kept
  const result = await log.enforceRetention(now);
  assert.equal(result.batchesDeleted, 2);
  assert.equal(result.recordsDeleted, 20);
  const p = log.partition('metrics', 0);
  assert.equal(p.logStartOffset, 20);
  assert.equal(p.logEndOffset, 30);
  assert.deepEqual(log.read('metrics', 0, 20).records.map((r) => r.offset)[0], 20);
  assert.throws(() => log.read('metrics', 0, 5), {
    code: 'TRIB_OFFSET_OUT_OF_RANGE',
    message: /offset 5 is out of range for metrics-0: valid offsets are 20\.\.30/,
  });
  assert.equal(log.offsetForTimestamp('metrics', 0, 0), 20, 'time lookups never return deleted offsets');
  // Appends go on from the log end.
  assert.equal((await log.append('metrics', 0, batch(1, now))).baseOffset, 30);
});

test('retention stops at the first batch that is young enough (whole batches, oldest end only)', async (t) => {
  const now = Date.now();
  const log = await openWith(t, { maxAgeMs: 7 * DAY, maxBytes: null });
  await log.append('metrics', 0, batch(5, now - 10 * DAY));
  await log.append('metrics', 0, batch(5, now - 1 * DAY));
  await log.append('metrics', 0, batch(5, now - 10 * DAY)); // old, but behind a young batch: kept
  await log.enforceRetention(now);
  assert.equal(log.partition('metrics', 0).logStartOffset, 5);
  assert.equal(log.read('metrics', 0, 5, { maxRecords: 100 }).records.length, 10);
});

test('retention by size keeps each partition under its byte cap', async (t) => {
  const now = Date.now();
  const log = await openWith(t, { maxAgeMs: null, maxBytes: 20_000 });
  for (let i = 0; i < 20; i++) await log.append('metrics', 0, batch(10, now, 200)); // ~2.2 KB a batch
  const before = log.partition('metrics', 0).bytes;
  assert.ok(before > 40_000);
  const result = await log.enforceRetention(now);
  const p = log.partition('metrics', 0);
  assert.ok(p.bytes <= 20_000, `${p.bytes} bytes left`);
  assert.ok(p.bytes > 20_000 - 2_500, 'deletes no more than needed');
  assert.equal(result.bytesDeleted, before - p.bytes);
  assert.equal(p.logStartOffset % 10, 0, 'cut on a batch boundary');
  assert.equal(log.read('metrics', 0, p.logStartOffset, { maxRecords: 1000 }).records.length, p.logEndOffset - p.logStartOffset);
});

test('under steady load with retention the files stop growing', async (t) => {
  const now = Date.now();
  const log = await openWith(t, { maxAgeMs: null, maxBytes: 1_000_000 });
  const files = ['log.db', 'log.db-wal'].map((f) => join(log.dataDir, f));
  const footprint = (): number => files.reduce((sum, f) => sum + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);
  const sizes: number[] = [];
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i < 10; i++) await log.append('metrics', 0, batch(100, now, 300)); // ~320 KB a round
    await log.enforceRetention(now);
    sizes.push(footprint());
  }
  const early = Math.max(...sizes.slice(10, 20));
  const late = Math.max(...sizes.slice(30));
  t.diagnostic(`footprint after rounds 10-20: ${early} bytes, after 30-40: ${late} bytes; written ${40 * 320_000}`);
  assert.ok(late <= early * 1.1, `files kept growing: ${early} -> ${late}`);
  assert.ok(log.partition('metrics', 0).bytes <= 1_000_000);
});

test('the cron scheduler runs retention on its schedule', async (t) => {
  const log = await openWith(t, { maxAgeMs: DAY, maxBytes: null });
  await log.append('metrics', 0, batch(3, Date.now() - 2 * DAY));
  await log.append('metrics', 0, batch(3, Date.now()));
  const scheduler = new RetentionScheduler(log, '* * * * * *'); // every second
  t.after(() => scheduler.stop());
  await pollUntil(() => log.partition('metrics', 0).logStartOffset !== 0, PATIENCE_MS, 100);
  assert.equal(log.partition('metrics', 0).logStartOffset, 3);
  await scheduler.stop();
  await scheduler.stop(); // idempotent
});
