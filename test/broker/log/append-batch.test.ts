// Log.appendBatch: a client's RecordBatch v2 stored as sent (only baseOffset and the leader epoch
// patched, outside the CRC), the checks it passes first, and the idempotent producer's sequence
// checks (duplicates answered with the original offsets, out-of-order and fenced batches refused),
// across a restart too. Real SQLite files through the real writer thread.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { readBatchHeader } from '../../../broker/log/record-batch.js';
import { clientBatch, rechecksum } from '../../helpers/client-batch.js';
import { makeRecords, values } from '../../helpers/records.js';
import { tempDir } from '../../helpers/temp-dir.js';

async function openLog(t: TestContext, dataDir = tempDir(t)): Promise<Log> {
  const log = await Log.open({ dataDir, topics: [{ name: 'in', partitions: 2 }] });
  t.after(() => log.close());
  return log;
}

const producer = (producerId: number, producerEpoch: number, baseSequence: number) => ({ producerId, producerEpoch, baseSequence });

test("a client's batch is stored byte for byte as sent, but for the offset and leader epoch, and reads back like the log's own", async (t) => {
  const log = await openLog(t);
  await log.append('in', 0, makeRecords(2, 'own'));
  const sent = clientBatch(makeRecords(3, 'client'), producer(7, 2, 0));
  const copy = Buffer.from(sent);
  const info = await log.appendBatch('in', 0, sent);
  assert.deepEqual([info.baseOffset, info.lastOffset, info.duplicate], [2, 4, false]);
  assert.deepEqual(sent, copy, "the caller's buffer is not changed (the writer gets a copy)");

  const [stored] = log.readBatches('in', 0, 2);
  assert.equal(Number(stored!.bytes.readBigInt64BE(0)), 2, 'baseOffset patched');
  assert.deepEqual(stored!.bytes.subarray(8), Buffer.concat([copy.subarray(8, 12), stored!.bytes.subarray(12, 16), copy.subarray(16)]), 'everything else as sent');
  const header = readBatchHeader(stored!.bytes, true);
  assert.deepEqual([header.producerId, header.producerEpoch, header.baseSequence], [7, 2, 0], 'the producer fields are kept');

  const read = log.read('in', 0, 0);
  assert.deepEqual(values(read.records), ['own-0', 'own-1', 'client-0', 'client-1', 'client-2']);
  assert.deepEqual(read.records.map((r) => r.offset), [0, 1, 2, 3, 4]);
});

test('batches a client may not send are refused with the problem named, and nothing is stored', async (t) => {
  const log = await openLog(t);
  const good = clientBatch(makeRecords(2, 'x'));
  const flipped = Buffer.from(good);
  flipped[flipped.length - 1]! ^= 0xff;
  const twoRecordsClaimed = Buffer.from(good);
  twoRecordsClaimed.writeInt32BE(3, 57); // record count 3, last offset delta 1
  const magic1 = Buffer.from(good);
  magic1.writeInt8(1, 16);
  const cases: Array<[string, Buffer, string]> = [
    ['a flipped byte (CRC)', flipped, 'corrupt'],
    ['gzip', clientBatch(makeRecords(2), { attributes: 1 }), 'compressed'],
    ['zstd', clientBatch(makeRecords(2), { attributes: 4 }), 'compressed'],
    ['codec 6 (none such)', clientBatch(makeRecords(2), { attributes: 6 }), 'corrupt'],
    ['two batches in one', Buffer.concat([good, good]), 'invalid'],
    ['cut short', good.subarray(0, good.length - 3), 'corrupt'],
    ['magic 1', magic1, 'invalid'],
    ['a control batch', clientBatch(makeRecords(1), { attributes: 0x20 }), 'invalid'],
    ['a transactional batch', clientBatch(makeRecords(1), { ...producer(1, 0, 0), attributes: 0x10 }), 'invalid'],
    ['a record count that disagrees with the last offset delta', rechecksum(twoRecordsClaimed), 'invalid'],
    ['an idempotent batch without a sequence', clientBatch(makeRecords(1), producer(1, 0, -1)), 'invalid'],
  ];
  for (const [what, batch, problem] of cases) {
    await assert.rejects(log.appendBatch('in', 0, batch), (err: { code?: string; problem?: string }) => err.code === 'TRIB_LOG_INVALID_BATCH' && err.problem === problem, what);
  }
  assert.equal(log.partition('in', 0).logEndOffset, 0, 'nothing stored');
  await assert.rejects(log.appendBatch('nope', 0, good), { code: 'TRIB_UNKNOWN_TOPIC' });
  await assert.rejects(log.appendBatch('in', 5, good), { code: 'TRIB_UNKNOWN_PARTITION' });
});

test("an idempotent producer's retry of one of its last 5 batches gets the original offsets and is not stored again", async (t) => {
  const log = await openLog(t);
  const batches = Array.from({ length: 6 }, (_, i) => clientBatch(makeRecords(2, `b${i}`), producer(1, 0, i * 2)));
  const first: number[] = [];
  for (const b of batches) first.push((await log.appendBatch('in', 0, b)).baseOffset);
  assert.deepEqual(first, [0, 2, 4, 6, 8, 10]);
  for (const i of [5, 1, 3]) {
    const again = await log.appendBatch('in', 0, batches[i]!);
    assert.deepEqual([again.baseOffset, again.lastOffset, again.duplicate], [first[i], first[i]! + 1, true], `batch ${i} again`);
  }
  assert.equal(log.partition('in', 0).logEndOffset, 12, 'no retry was stored');
  // The oldest of six is no longer remembered: like Kafka, its retry is out of order.
  await assert.rejects(log.appendBatch('in', 0, batches[0]!), { code: 'TRIB_LOG_OUT_OF_ORDER_SEQUENCE' });
  // Another partition has its own sequence; another producer id too.
  assert.equal((await log.appendBatch('in', 1, batches[0]!)).duplicate, false);
  assert.equal((await log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(2, 0, 0)))).duplicate, false);
  // Not idempotent: every send is stored.
  const plain = clientBatch(makeRecords(1, 'plain'));
  await log.appendBatch('in', 0, plain);
  assert.equal((await log.appendBatch('in', 0, plain)).duplicate, false);
  assert.equal(log.partition('in', 0).logEndOffset, 15);
});

test('out-of-order sequences and older epochs are refused; a newer epoch starts again at sequence 0', async (t) => {
  const log = await openLog(t);
  await log.appendBatch('in', 0, clientBatch(makeRecords(3), producer(4, 1, 0)));
  await assert.rejects(log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(4, 1, 4))), { code: 'TRIB_LOG_OUT_OF_ORDER_SEQUENCE', expected: 3, actual: 4 });
  await assert.rejects(log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(4, 1, 1))), { code: 'TRIB_LOG_OUT_OF_ORDER_SEQUENCE' }, 'overlapping, not a duplicate');
  await assert.rejects(log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(4, 0, 3))), { code: 'TRIB_LOG_PRODUCER_FENCED', currentEpoch: 1, epoch: 0 });
  await assert.rejects(log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(4, 2, 5))), { code: 'TRIB_LOG_OUT_OF_ORDER_SEQUENCE' }, 'a new epoch starts at 0');
  assert.equal((await log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(4, 1, 3)))).baseOffset, 3);
  assert.equal((await log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(4, 2, 0)))).baseOffset, 4);
  await assert.rejects(log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(4, 1, 4))), { code: 'TRIB_LOG_PRODUCER_FENCED' }, 'the old epoch is fenced now');
  assert.equal(log.partition('in', 0).logEndOffset, 5);
});

test('a refused batch fails alone: the appends committed in the same group are stored and answered', async (t) => {
  const log = await openLog(t);
  await log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(9, 0, 0)));
  // Made in one synchronous run: one message to the writer, one transaction.
  const results = await Promise.allSettled([
    log.append('in', 0, makeRecords(1, 'before')),
    log.appendBatch('in', 0, clientBatch(makeRecords(1, 'late'), producer(9, 0, 7))),
    log.appendBatch('in', 0, clientBatch(makeRecords(1, 'next'), producer(9, 0, 1))),
    log.appendBatch('in', 0, clientBatch(makeRecords(1, 'next'), producer(9, 0, 1))),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  const [, , stored, retry] = results as Array<PromiseFulfilledResult<{ baseOffset: number; duplicate: boolean }>>;
  assert.deepEqual([stored!.value.duplicate, retry!.value.duplicate, retry!.value.baseOffset], [false, true, stored!.value.baseOffset], 'a retry in the same group is a duplicate');
  assert.deepEqual(values(log.read('in', 0, 0).records), ['r-0', 'before-0', 'next-0']);
});

test('the producer state and the producer ids survive a restart', async (t) => {
  const dataDir = tempDir(t);
  let log = await Log.open({ dataDir, topics: [{ name: 'in', partitions: 1 }] });
  assert.deepEqual([await log.allocateProducerId(), await log.allocateProducerId()], [0, 1]);
  const sent = clientBatch(makeRecords(2), producer(1, 0, 0));
  await log.appendBatch('in', 0, sent);
  await log.close();

  log = await Log.open({ dataDir });
  t.after(() => log.close());
  assert.equal(await log.allocateProducerId(), 2, 'no id is handed out twice');
  const again = await log.appendBatch('in', 0, sent);
  assert.deepEqual([again.baseOffset, again.duplicate], [0, true]);
  await assert.rejects(log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(1, 0, 5))), { code: 'TRIB_LOG_OUT_OF_ORDER_SEQUENCE' });
  assert.equal((await log.appendBatch('in', 0, clientBatch(makeRecords(1), producer(1, 0, 2)))).baseOffset, 2);
});

test('truncateTo forgets the producer batches it removes: a resend of one is stored again', async (t) => {
  const log = await openLog(t);
  await log.appendBatch('in', 0, clientBatch(makeRecords(2), producer(3, 0, 0)));
  const second = clientBatch(makeRecords(2), producer(3, 0, 2));
  await log.appendBatch('in', 0, second);
  await log.truncateTo('in', 0, 2);
  const resent = await log.appendBatch('in', 0, second);
  assert.deepEqual([resent.baseOffset, resent.duplicate], [2, false]);
  assert.equal(log.partition('in', 0).logEndOffset, 4);
});

test('retention forgets a producer whose batches it deleted, and only that one', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'in', partitions: 1, retention: { maxAgeMs: 60_000, maxBytes: null } }] });
  t.after(() => log.close());
  const old = clientBatch(makeRecords(2, 'old', Date.now() - 3_600_000), producer(1, 0, 0));
  const kept = clientBatch(makeRecords(2, 'kept', Date.now()), producer(2, 0, 0));
  await log.appendBatch('in', 0, old);
  await log.appendBatch('in', 0, kept);
  assert.equal((await log.enforceRetention()).batchesDeleted, 1);
  assert.equal((await log.appendBatch('in', 0, kept)).duplicate, true, 'producer 2 still has its batch: its retry is known');
  const resent = await log.appendBatch('in', 0, old);
  assert.deepEqual([resent.baseOffset, resent.duplicate], [4, false], 'producer 1 is forgotten: its batch is new again, as in Kafka');
});
