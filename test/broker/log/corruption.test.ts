// Bytes that change on disk (SD-card bit rot, a failing SSD) must never come back as records:
// reads fail with TRIB_LOG_CORRUPT_BATCH naming topic, partition and offset, and the good data
// around the damage stays readable.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { CorruptBatchError, LogDamagedError, TributaryError } from '../../../broker/errors.js';
import { Log } from '../../../broker/log/log.js';
import type { LogRecord } from '../../../broker/log/record-batch.js';
import { damageBatchesLeaf, damageSmallTable, flipByteNear } from '../../helpers/damaged-page.js';
import { tempDir } from '../../helpers/temp-dir.js';

const BATCHES = 8;
const PER_BATCH = 10;

async function writeGolden(t: TestContext): Promise<string> {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir, topics: [{ name: 'rot', partitions: 2 }] });
  for (let b = 0; b < BATCHES; b++) {
    for (const partition of [0, 1]) {
      const records = Array.from({ length: PER_BATCH }, (_, i) => ({
        timestamp: 1_700_000_000_000 + b * 100 + i,
        key: Buffer.from(`k${i}`),
        value: Buffer.from(`MARK-p${partition}-b${b}-r${i}-${'v'.repeat(40)}`),
      }));
      await log.append('rot', partition, records);
    }
  }
  await log.close();
  return dataDir;
}

function flipNear(file: string, marker: string): void {
  flipByteNear(file, marker, randomInt(marker.length), 1 << randomInt(8));
}

test('a flipped byte inside a stored batch fails the read with a typed error naming where', async (t) => {
  const dataDir = await writeGolden(t);
  flipNear(join(dataDir, 'log.db'), 'MARK-p0-b3-r4');
  const log = await Log.open({ dataDir });
  t.after(() => log.close());

  // The good prefix survives: a read from 0 stops before the damaged batch.
  const prefix = log.read('rot', 0, 0, { maxRecords: 1000 });
  assert.equal(prefix.records.length, 3 * PER_BATCH);
  assert.equal(prefix.nextOffset, 30);
  // Reading the damaged batch itself fails, naming topic, partition and offset.
  assert.throws(
    () => log.read('rot', 0, 30),
    (err: unknown) => {
      assert.ok(err instanceof CorruptBatchError);
      assert.equal(err.code, 'TRIB_LOG_CORRUPT_BATCH');
      assert.equal(err.topic, 'rot');
      assert.equal(err.partition, 0);
      assert.equal(err.baseOffset, 30);
      assert.equal(err.lastOffset, 39, 'the range runs to just before the next stored batch');
      assert.deepEqual(
        { fromOffset: err.toJSON().fromOffset, toOffset: err.toJSON().toOffset, topic: err.toJSON().topic, partition: err.toJSON().partition },
        { fromOffset: 30, toOffset: 39, topic: 'rot', partition: 0 },
      );
      assert.match(err.message, /rot-0 at offset 30: CRC-32C mismatch/);
      return true;
    },
  );
  assert.throws(() => log.read('rot', 0, 35), { code: 'TRIB_LOG_CORRUPT_BATCH' });
  assert.throws(() => log.readBatches('rot', 0, 30), { code: 'TRIB_LOG_CORRUPT_BATCH' });
  // Whole batches (the NDJSON fast path, a follower's fetch) also hand out the good prefix first.
  assert.deepEqual(log.readBatches('rot', 0, 0).map((b) => b.baseOffset), [0, 10, 20]);
  // The log remembers what reads met, for the metrics and the overview.
  assert.deepEqual(log.corruptBatches().map((c) => [c.topic, c.partition, c.fromOffset, c.toOffset]), [['rot', 0, 30, 39]]);
  // Batches after it, and the other partition, are intact.
  assert.equal(log.read('rot', 0, 40, { maxRecords: 1000 }).records.length, (BATCHES - 4) * PER_BATCH);
  assert.equal(log.read('rot', 1, 0, { maxRecords: 1000 }).records.length, BATCHES * PER_BATCH);
});

test('recovery after an unclean stop reports a damaged batch and keeps the good ones', async (t) => {
  const dataDir = await writeGolden(t);
  const db = join(dataDir, 'log.db');
  flipNear(db, 'MARK-p1-b6-r2');
  // Make the stop look unclean: a crash leaves clean_shutdown = 0 and recovery points behind.
  const { default: Database } = await import('better-sqlite3');
  const raw = new Database(db);
  raw.exec(`UPDATE meta SET value = '0' WHERE key = 'clean_shutdown'; UPDATE partitions SET recovery_point = 0`);
  raw.close();

  const log = await Log.open({ dataDir });
  t.after(() => log.close());
  assert.ok(log.recovery !== null);
  assert.equal(log.recovery.batchesChecked, 2 * BATCHES);
  assert.equal(log.recovery.problems.length, 1);
  assert.match(log.recovery.problems[0]!, /rot-1 offset 60: CRC-32C mismatch/);
  assert.equal(log.partition('rot', 1).logEndOffset, BATCHES * PER_BATCH, 'nothing acknowledged was cut');
  assert.equal(log.read('rot', 1, 70).records.length, PER_BATCH);
  assert.throws(() => log.read('rot', 1, 60), { code: 'TRIB_LOG_CORRUPT_BATCH' });
});

test('random bytes at random positions of the file: never a wrong record, only typed errors', async (t) => {
  const golden = await writeGolden(t);
  const expected = new Map<string, string>();
  for (let b = 0; b < BATCHES; b++)
    for (const p of [0, 1])
      for (let i = 0; i < PER_BATCH; i++) expected.set(`${p}:${b * PER_BATCH + i}`, `MARK-p${p}-b${b}-r${i}-${'v'.repeat(40)}`);

  let typedFailures = 0;
  for (let round = 0; round < 25; round++) {
    const dataDir = tempDir(t);
    cpSync(golden, dataDir, { recursive: true });
    const file = join(dataDir, 'log.db');
    const bytes = readFileSync(file);
    for (let n = 0; n < 1 + (round % 6); n++) {
      const pos = 100 + randomInt(bytes.length - 100); // past SQLite's file header
      bytes[pos] = randomInt(256);
    }
    writeFileSync(file, bytes);

    let log: Log;
    try {
      log = await Log.open({ dataDir });
    } catch (err) {
      assert.ok(err instanceof TributaryError, `open failed untyped: ${(err as Error).message}`);
      typedFailures++;
      continue;
    }
    try {
      for (const p of [0, 1]) {
        let end: number;
        try {
          end = log.partition('rot', p).logEndOffset;
        } catch (err) {
          // The bytes hit the table of partitions: the partition is unknown, with a typed error.
          assert.ok(err instanceof TributaryError, `partition lookup failed untyped: ${(err as Error).message}`);
          typedFailures++;
          continue;
        }
        let from = 0;
        while (from < end) {
          let read: { records: LogRecord[]; nextOffset: number };
          try {
            read = log.read('rot', p, from, { maxRecords: 7 });
          } catch (err) {
            assert.ok(err instanceof TributaryError, `read failed untyped: ${(err as Error).message}`);
            typedFailures++;
            from += 1;
            continue;
          }
          for (const r of read.records) assert.equal(r.value?.toString(), expected.get(`${p}:${r.offset}`), `round ${round}: wrong record at ${p}:${r.offset}`);
          // An empty read (a gap the damage left) still moves on.
          from = read.records.length > 0 ? read.records.at(-1)!.offset + 1 : Math.max(read.nextOffset, from + 1);
        }
      }
    } finally {
      await log.close().catch(() => undefined);
    }
  }
  t.diagnostic(`typed failures seen: ${typedFailures}`);
});

// Start-up reads the small tables and the batches' indexes, never the batches themselves (a whole
// log read at every start would take a minute on an SD card): a damaged page among the batches is
// met by the read that needs it (the next test), one among what start-up reads stops it.
test('a damaged page that start-up reads stops it with TRIB_LOG_DAMAGED, not retriable, naming tributary salvage', async (t) => {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir, topics: [{ name: 'pages', partitions: 2 }] });
  for (let b = 0; b < 120; b++) {
    for (const partition of [0, 1]) {
      await log.append('pages', partition, Array.from({ length: 10 }, (_, i) => ({ timestamp: 1_700_000_000_000 + b, key: null, value: Buffer.from(`p${partition}-b${b}-r${i}-${'x'.repeat(100)}`) })));
    }
  }
  await log.close(); // the last connection's close checkpoints the WAL into log.db
  damageSmallTable(join(dataDir, 'log.db'), 'partitions');

  await assert.rejects(Log.open({ dataDir }), (err: unknown) => {
    assert.ok(err instanceof LogDamagedError, `got ${(err as Error).name}: ${(err as Error).message}`);
    assert.equal(err.code, 'TRIB_LOG_DAMAGED');
    assert.equal(err.retriable, false);
    assert.match(err.message, /tributary salvage --data-dir .+ --to NEW_DIR/);
    return true;
  });
});

test('a page damaged under a running log: reads give the good prefix, then TRIB_LOG_CORRUPT_BATCH naming the range past the page', async (t) => {
  const dataDir = tempDir(t);
  const writer = await Log.open({ dataDir, topics: [{ name: 'pages', partitions: 1 }] });
  for (let b = 0; b < 300; b++) {
    await writer.append('pages', 0, Array.from({ length: 10 }, (_, i) => ({ timestamp: 1_700_000_000_000 + b, key: null, value: Buffer.from(`b${b}-r${i}-${'x'.repeat(100)}`) })));
  }
  await writer.close();
  const log = await Log.open({ dataDir });
  t.after(() => log.close());
  damageBatchesLeaf(join(dataDir, 'log.db')); // under the open log: its read connection has not cached the page

  const prefix = log.read('pages', 0, 0, { maxRecords: 3000 });
  const damagedAt = prefix.nextOffset;
  assert.ok(damagedAt > 0 && damagedAt < 3000 && damagedAt % 10 === 0, `the good prefix ends at a batch boundary (${damagedAt})`);
  let lastOffset = -1;
  assert.throws(
    () => log.read('pages', 0, damagedAt),
    (err: unknown) => {
      assert.ok(err instanceof CorruptBatchError, `got ${(err as Error).name}: ${(err as Error).message}`);
      assert.equal(err.retriable, false);
      assert.equal(err.baseOffset, damagedAt);
      assert.match(err.message, /storage page damaged/);
      lastOffset = err.lastOffset;
      return true;
    },
  );
  assert.ok(lastOffset > damagedAt && lastOffset < 2999, `the range ends where the page does, not at the log end (${lastOffset})`);
  // Past the damaged page the log reads again, to its end.
  assert.equal(log.read('pages', 0, lastOffset + 1, { maxRecords: 3000 }).records.length, 3000 - lastOffset - 1);
  assert.throws(() => log.readBatches('pages', 0, damagedAt), { code: 'TRIB_LOG_CORRUPT_BATCH' });
});
