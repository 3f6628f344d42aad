// Reads ahead (Log.readAhead, read-ahead.ts) on a real log file: the next readBatches of the same
// range takes what was read, but never anything a fresh read would not return: not after the
// tail was truncated and stored again, not past an end that moved, not a corrupt batch.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { BatchReader } from '../../../broker/log/batch-reader.js';
import { Log } from '../../../broker/log/log.js';
import { Partition } from '../../../broker/log/partition.js';
import { ReadAhead } from '../../../broker/log/read-ahead.js';
import { DATABASE_FILE } from '../../../broker/log/schema.js';
import { flipByteNear } from '../../helpers/damaged-page.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { makeRecords, values } from '../../helpers/records.js';
import { tempDir } from '../../helpers/temp-dir.js';

const offsets = (batches: ReadonlyArray<{ baseOffset: number; lastOffset: number }>): number[][] => batches.map((b) => [b.baseOffset, b.lastOffset]);

test('a read ahead is taken by the next readBatches of the same range, once; another range reads afresh', async (t) => {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir, topics: [{ name: 'seq', partitions: 1 }] });
  onCleanup(t, () => log.close());
  for (let b = 0; b < 6; b++) await log.append('seq', 0, makeRecords(10, `b${b}`));
  // A partition of its own over the same file, to see what its read-ahead holds.
  const ahead = new ReadAhead();
  const reader = new BatchReader(join(dataDir, DATABASE_FILE));
  onCleanup(t, () => reader.close());
  const info = log.topics()[0]!.partitions[0]!;
  const partition = new Partition({ id: log.partition('seq', 0).id, topic: 'seq', partition: 0, logStartOffset: 0, logEndOffset: info.logEndOffset, bytes: info.bytes, latestEpoch: 0 }, reader, undefined, true, ahead);
  const batchBytes = partition.readBatches(0, 1).at(0)!.bytes.length;

  partition.readAhead(20, 2 * batchBytes);
  assert.equal(ahead.heldBytes, 2 * batchBytes, 'two batches read ahead');
  const taken = partition.readBatches(20, 2 * batchBytes);
  assert.deepEqual(offsets(taken), [[20, 29], [30, 39]]);
  assert.equal(ahead.heldBytes, 0, 'taken');
  assert.deepEqual(taken.map((b) => b.bytes), partition.readBatches(20, 2 * batchBytes).map((b) => b.bytes), 'what a fresh read returns');

  partition.readAhead(20, 2 * batchBytes);
  assert.deepEqual(offsets(partition.readBatches(30, 2 * batchBytes)), [[30, 39], [40, 49]], 'another range reads afresh');
  assert.equal(ahead.heldBytes, 0, 'and the slot is gone');
});

test('a read ahead is not taken after the tail it read was truncated and stored again, nor when the end moved past a read that ended there', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'seq', partitions: 1 }] });
  onCleanup(t, () => log.close());
  for (let b = 0; b < 3; b++) await log.append('seq', 0, makeRecords(10, `old${b}`));

  log.readAhead('seq', 0, 10, 1 << 20);
  await log.truncateTo('seq', 0, 10);
  for (let b = 1; b < 3; b++) await log.append('seq', 0, makeRecords(10, `new${b}`));
  assert.deepEqual(values(log.readBatches('seq', 0, 10, 1 << 20).flatMap((b) => log.read('seq', 0, b.baseOffset, { maxRecords: 10 }).records)), [...values(makeRecords(10, 'new1')), ...values(makeRecords(10, 'new2'))], 'the records stored after the truncation');

  // Read ahead up to the high watermark (30), then more is committed: a fresh read returns more.
  log.readAhead('seq', 0, 10, 1 << 20);
  await log.append('seq', 0, makeRecords(10, 'more'));
  assert.deepEqual(offsets(log.readBatches('seq', 0, 10, 1 << 20)), [[10, 19], [20, 29], [30, 39]]);
});

test('corrupt batches are never served read ahead: the good ones before are, and the read of the corrupt one fails', async (t) => {
  const dataDir = tempDir(t);
  let log = await Log.open({ dataDir, topics: [{ name: 'rot', partitions: 1 }] });
  for (let b = 0; b < 5; b++) await log.append('rot', 0, makeRecords(10, `MARK-b${b}`).map((r) => ({ ...r, value: Buffer.from(`${r.value!.toString()}-${'v'.repeat(40)}`) })));
  await log.close();
  flipByteNear(join(dataDir, DATABASE_FILE), 'MARK-b3-4', 5);
  log = await Log.open({ dataDir });
  onCleanup(t, () => log.close());

  log.readAhead('rot', 0, 0, 1 << 20);
  assert.deepEqual(offsets(log.readBatches('rot', 0, 0, 1 << 20)), [[0, 9], [10, 19], [20, 29]], 'the good prefix');
  log.readAhead('rot', 0, 30, 1 << 20);
  assert.throws(() => log.readBatches('rot', 0, 30, 1 << 20), { code: 'TRIB_LOG_CORRUPT_BATCH' });
});
