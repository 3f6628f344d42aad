// Salvage on real files damaged at page level (a whole B-tree page of garbage, as a failing SD card
// leaves it) plus a flipped byte inside one batch: the good batches come across byte for byte with
// their offsets, nothing corrupt is copied, and the report names exactly what was lost.
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { CorruptBatchError, UsageError } from '../../../broker/errors.js';
import { Log } from '../../../broker/log/log.js';
import { salvageLog } from '../../../broker/log/salvage.js';
import { damageBatchesLeaf, flipByteNear } from '../../helpers/damaged-page.js';
import { tempDir } from '../../helpers/temp-dir.js';

const BATCHES = 200;
const PER_BATCH = 10;
const END = BATCHES * PER_BATCH;

async function writeLog(t: TestContext): Promise<string> {
  const dataDir = join(tempDir(t), 'old');
  const log = await Log.open({ dataDir, durability: 'write', topics: [{ name: 'plant', partitions: 2 }, { name: 'empty', partitions: 1 }] });
  for (let b = 0; b < BATCHES; b++) {
    for (const partition of [0, 1]) {
      await log.append('plant', partition, Array.from({ length: PER_BATCH }, (_, i) => ({ timestamp: 1_700_000_000_000 + b, key: null, value: Buffer.from(`MARK-p${partition}-b${b}-r${i}-${'x'.repeat(100)}`) })));
    }
  }
  await log.close(); // the last connection's close checkpoints the WAL into log.db
  return dataDir;
}

interface Row {
  partition: number;
  baseOffset: number;
  lastOffset: number;
  data: Buffer;
}

/** Every stored batch of topic 'plant', read straight from the file. */
function rows(dataDir: string): Row[] {
  const db = new Database(join(dataDir, 'log.db'), { readonly: true });
  try {
    return db
      .prepare(`SELECT p.partition, b.base_offset AS baseOffset, b.last_offset AS lastOffset, b.data FROM batches b JOIN partitions p ON p.id = b.partition_id WHERE p.topic = 'plant' ORDER BY 1, 2`)
      .all() as Row[];
  } finally {
    db.close();
  }
}

test('salvage of a log with a damaged B-tree page and a corrupt batch: good batches copied as they were, lost ranges named', async (t) => {
  const oldDir = await writeLog(t);
  const pristine = join(tempDir(t), 'pristine');
  cpSync(oldDir, pristine, { recursive: true });
  const original = new Map(rows(pristine).map((r) => [`${r.partition}:${r.baseOffset}`, r.data]));
  // A flipped byte in the batch at offsets 50..59 of partition 0, and a page of garbage in the middle.
  const file = join(oldDir, 'log.db');
  flipByteNear(file, 'MARK-p0-b5-r3', 2, 0x04);
  damageBatchesLeaf(file);

  const newDir = join(tempDir(t), 'new');
  const progress: number[] = [];
  const report = salvageLog(oldDir, newDir, (p) => progress.push(p.done));
  assert.ok(progress.length > 0 && progress.at(-1) === 2 * END, 'progress reaches the total');
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.partitions.map((p) => [p.topic, p.partition]), [['empty', 0], ['plant', 0], ['plant', 1]]);

  const lostPage = report.partitions.flatMap((p) => p.lost.filter((l) => /page damaged/.test(l.reason)).map((l) => ({ ...l, partition: p.partition })));
  // Batches sit in the file in the order they were appended, so one page holds batches of both
  // partitions (written in turn): one damaged page, at most one lost range in each.
  assert.ok(lostPage.length >= 1 && lostPage.length <= 2, `one damaged page, a lost range per partition it held: ${JSON.stringify(report.partitions)}`);
  assert.equal(new Set(lostPage.map((l) => l.partition)).size, lostPage.length, 'at most one lost range per partition');
  const crc = report.partitions[1]!.lost.find((l) => /CRC-32C mismatch/.test(l.reason));
  assert.deepEqual(crc && [crc.fromOffset, crc.toOffset], [50, 59], 'the corrupt batch is named with its range');

  const salvaged = await Log.open({ dataDir: newDir });
  t.after(() => salvaged.close());
  for (const p of report.partitions.filter((r) => r.topic === 'plant')) {
    const part = salvaged.partition('plant', p.partition);
    // Copied and lost ranges tile the partition: nothing silently missing, nothing invented.
    const copied = rows(newDir).filter((r) => r.partition === p.partition);
    const tiles = [...copied.map((b) => [b.baseOffset, b.lastOffset] as const), ...p.lost.map((l) => [l.fromOffset, l.toOffset!] as const)].sort((a, b) => a[0] - b[0]);
    let next = 0;
    for (const [from, to] of tiles) {
      assert.equal(from, next, `partition ${p.partition}: offsets tile from 0`);
      next = to + 1;
    }
    assert.equal(next, END);
    assert.equal(part.logEndOffset, END);
    assert.equal(p.batchesCopied, copied.length);
    // Each copied batch is byte for byte the original at the same offsets: nothing corrupt came across.
    for (const b of copied) assert.ok(b.data.equals(original.get(`${p.partition}:${b.baseOffset}`)!), `batch ${p.partition}:${b.baseOffset} differs`);
  }
  // The good prefix before the damage reads as before; the holes read as corrupt, named.
  for (const page of lostPage) {
    assert.equal(salvaged.read('plant', page.partition, 0, { maxRecords: END }).records.length, page.partition === 0 ? 50 : page.fromOffset);
    assert.throws(() => salvaged.read('plant', page.partition, page.fromOffset), (err: unknown) => err instanceof CorruptBatchError && err.baseOffset === page.fromOffset && err.lastOffset === page.toOffset);
  }
  assert.throws(() => salvaged.read('plant', 0, 50), (err: unknown) => err instanceof CorruptBatchError && err.lastOffset === 59);
  assert.equal(salvaged.read('plant', 0, 60, { maxRecords: 10 }).records[0]!.value!.toString().slice(0, 15), 'MARK-p0-b6-r0-x');
  // New appends go on after the old log end: no offset is reused.
  assert.equal((await salvaged.append('plant', 1, [{ timestamp: Date.now(), key: null, value: Buffer.from('after') }])).baseOffset, END);
});

test('salvage refuses to write into a directory that holds a log, or into the damaged one', async (t) => {
  const oldDir = await writeLog(t);
  assert.throws(() => salvageLog(oldDir, oldDir), UsageError);
  const other = await writeLog(t);
  assert.throws(() => salvageLog(oldDir, other), /already holds a log/);
});
