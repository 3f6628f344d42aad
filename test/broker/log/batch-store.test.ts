// Leader and follower appends, the leader-epoch cache and truncation, through the Log's API.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { OffsetMismatchError, StaleEpochError, CorruptBatchError } from '../../../broker/errors.js';
import { Log } from '../../../broker/log/log.js';
import { readBatchHeader } from '../../../broker/log/record-batch.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeRecords, values } from '../../helpers/records.js';

async function openLog(t: import('node:test').TestContext, dataDir = tempDir(t)): Promise<Log> {
  const log = await Log.open({ dataDir, topics: [{ name: 'telemetry', partitions: 2 }] });
  t.after(() => log.close());
  return log;
}

function storedEpochs(dataDir: string): Array<{ base: number; column: number; header: number }> {
  const db = new Database(join(dataDir, 'log.db'), { readonly: true });
  try {
    const rows = db.prepare(`SELECT base_offset AS base, leader_epoch AS column, data FROM batches ORDER BY partition_id, base_offset`).all() as Array<{ base: number; column: number; data: Buffer }>;
    return rows.map((r) => ({ base: r.base, column: r.column, header: readBatchHeader(r.data, true).partitionLeaderEpoch }));
  } finally {
    db.close();
  }
}

test('leader appends stamp the current leader epoch into the batch header and the leader_epoch column; the cache records where each epoch starts', async (t) => {
  const dataDir = tempDir(t);
  const log = await openLog(t, dataDir);
  assert.equal(log.currentLeaderEpoch('telemetry', 0), 0);
  await log.append('telemetry', 0, makeRecords(3, 'a'));
  log.becomeLeader('telemetry', 0, 5);
  await log.append('telemetry', 0, makeRecords(2, 'b'));
  await log.append('telemetry', 0, makeRecords(4, 'c'));
  log.becomeLeader('telemetry', 0, 7);
  await log.append('telemetry', 0, makeRecords(1, 'd'));
  assert.deepEqual(storedEpochs(dataDir), [
    { base: 0, column: 0, header: 0 },
    { base: 3, column: 5, header: 5 },
    { base: 5, column: 5, header: 5 },
    { base: 9, column: 7, header: 7 },
  ]);
  assert.deepEqual(log.epochStartOffsets('telemetry', 0), [
    { epoch: 0, startOffset: 0 },
    { epoch: 5, startOffset: 3 },
    { epoch: 7, startOffset: 9 },
  ]);
  assert.deepEqual(log.epochStartOffsets('telemetry', 1), [], 'other partitions keep their own cache');
  // OffsetForLeaderEpoch: the next higher epoch's start, the log end for the latest, the largest epoch at or below.
  assert.deepEqual(log.endOffsetForEpoch('telemetry', 0, 0), { epoch: 0, endOffset: 3 });
  assert.deepEqual(log.endOffsetForEpoch('telemetry', 0, 6), { epoch: 5, endOffset: 9 });
  assert.deepEqual(log.endOffsetForEpoch('telemetry', 0, 7), { epoch: 7, endOffset: 10 });
  assert.deepEqual(log.endOffsetForEpoch('telemetry', 1, 0), { epoch: -1, endOffset: -1 });
  assert.throws(() => log.becomeLeader('telemetry', 0, 6), (err: unknown) => err instanceof StaleEpochError && err.code === 'TRIB_LOG_STALE_EPOCH' && err.latestEpoch === 7);
  // Records read back unchanged (the CRC still holds with the epoch stamped).
  assert.deepEqual(values(log.read('telemetry', 0, 0).records), ['a-0', 'a-1', 'a-2', 'b-0', 'b-1', 'c-0', 'c-1', 'c-2', 'c-3', 'd-0']);
});

test('the epoch cache and the current epoch survive a restart', async (t) => {
  const dataDir = tempDir(t);
  const first = await Log.open({ dataDir, topics: [{ name: 'telemetry', partitions: 1 }] });
  first.becomeLeader('telemetry', 0, 3);
  await first.append('telemetry', 0, makeRecords(2));
  await first.close();
  const log = await openLog(t, dataDir);
  assert.equal(log.currentLeaderEpoch('telemetry', 0), 3);
  assert.deepEqual(log.epochStartOffsets('telemetry', 0), [{ epoch: 3, startOffset: 0 }]);
  await log.append('telemetry', 0, makeRecords(1));
  assert.deepEqual(storedEpochs(dataDir).map((e) => e.header), [3, 3]);
});

test('a follower stores the leader\'s batches as they are: offsets and epochs kept, CRC checked, contiguity enforced', async (t) => {
  const leader = await openLog(t);
  await leader.append('telemetry', 0, makeRecords(3, 'a'));
  leader.becomeLeader('telemetry', 0, 2);
  await leader.append('telemetry', 0, makeRecords(2, 'b'));
  await leader.append('telemetry', 0, makeRecords(4, 'c'));
  const batches = leader.readBatches('telemetry', 0, 0).map((b) => b.bytes);
  const followerDir = tempDir(t);
  const follower = await openLog(t, followerDir);

  // Not starting at the log end (0): a typed error naming both offsets; nothing stored.
  await assert.rejects(follower.appendAsFollower('telemetry', 0, [batches[1]!]), (err: unknown) => {
    assert.ok(err instanceof OffsetMismatchError, String(err));
    assert.equal(err.code, 'TRIB_LOG_OFFSET_MISMATCH');
    assert.deepEqual([err.expected, err.actual, err.topic, err.partition], [0, 3, 'telemetry', 0]);
    return true;
  });
  // A gap inside one call: all or nothing.
  await assert.rejects(follower.appendAsFollower('telemetry', 0, [batches[0]!, batches[2]!]), (err: unknown) => err instanceof OffsetMismatchError && err.expected === 3 && err.actual === 5);
  assert.equal(follower.partition('telemetry', 0).logEndOffset, 0);
  // A flipped bit inside the CRC's span.
  const damaged = Buffer.from(batches[0]!);
  damaged[damaged.length - 1]! ^= 1;
  await assert.rejects(follower.appendAsFollower('telemetry', 0, [damaged]), (err: unknown) => err instanceof CorruptBatchError && err.code === 'TRIB_LOG_CORRUPT_BATCH');

  const info = await follower.appendAsFollower('telemetry', 0, batches.slice(0, 2));
  assert.deepEqual([info.baseOffset, info.lastOffset], [0, 4]);
  await follower.appendAsFollower('telemetry', 0, batches.slice(2));
  const p = follower.partition('telemetry', 0);
  assert.deepEqual([p.logEndOffset, p.highWatermark], [9, 9]);
  assert.deepEqual(follower.readBatches('telemetry', 0, 0).map((b) => b.bytes), batches, 'stored byte for byte');
  assert.deepEqual(follower.epochStartOffsets('telemetry', 0), leader.epochStartOffsets('telemetry', 0));
  assert.equal(follower.currentLeaderEpoch('telemetry', 0), 2, 'a follower follows the epoch it stored');
  assert.deepEqual(storedEpochs(followerDir).map((e) => e.column), [0, 2, 2]);
});

test('a follower batch of an older epoch than the log holds is refused', async (t) => {
  const leader = await openLog(t);
  await leader.append('telemetry', 0, makeRecords(1, 'old')); // epoch 0 at offset 0
  const old = leader.readBatches('telemetry', 0, 0)[0]!.bytes;
  const follower = await openLog(t);
  follower.becomeLeader('telemetry', 0, 4);
  await follower.append('telemetry', 0, makeRecords(1, 'x')); // epoch 4 at offset 0
  const again = Buffer.from(old);
  again.writeBigInt64BE(1n, 0); // base offset sits outside the CRC: now at the log end
  await assert.rejects(follower.appendAsFollower('telemetry', 0, [again]), (err: unknown) => err instanceof StaleEpochError && err.latestEpoch === 4 && err.epoch === 0);
  assert.equal(follower.partition('telemetry', 0).logEndOffset, 1);
});

test('truncateTo removes the tail at a batch boundary and moves the log end, the high watermark and the epoch cache back', async (t) => {
  const dataDir = tempDir(t);
  const log = await openLog(t, dataDir);
  await log.append('telemetry', 0, makeRecords(3, 'a')); // 0..2 epoch 0
  log.becomeLeader('telemetry', 0, 1);
  await log.append('telemetry', 0, makeRecords(2, 'b'), { idempotenceKey: { producer: 'p', sequence: 1 } }); // 3..4 epoch 1
  log.becomeLeader('telemetry', 0, 2);
  await log.append('telemetry', 0, makeRecords(4, 'c')); // 5..8 epoch 2
  await log.append('telemetry', 1, makeRecords(2, 'other'));

  await assert.rejects(log.truncateTo('telemetry', 0, 6), (err: unknown) => {
    assert.ok(err instanceof OffsetMismatchError, String(err));
    assert.match(err.message, /inside the batch 5\.\.8; the nearest batch boundaries are 5 and 9/);
    return true;
  });
  const waiting = log.waitFor('telemetry', 0, 8, 60_000);
  const info = await log.truncateTo('telemetry', 0, 3);
  assert.deepEqual([info.logEndOffset, info.highWatermark], [3, 3]);
  assert.deepEqual(values(log.read('telemetry', 0, 0).records), ['a-0', 'a-1', 'a-2']);
  assert.deepEqual(log.epochStartOffsets('telemetry', 0), [{ epoch: 0, startOffset: 0 }]);
  assert.equal(log.partition('telemetry', 1).logEndOffset, 2, 'other partitions untouched');
  // The removed batch's idempotence key went with it: the same key stores anew.
  const again = await log.append('telemetry', 0, makeRecords(1, 'again'), { idempotenceKey: { producer: 'p', sequence: 1 } });
  assert.deepEqual([again.baseOffset, again.duplicate], [3, false]);
  // Still leader in epoch 2: the new epoch starts where the tail was cut.
  assert.deepEqual(log.epochStartOffsets('telemetry', 0), [{ epoch: 0, startOffset: 0 }, { epoch: 2, startOffset: 3 }]);
  // At or above the log end: nothing happens.
  assert.equal((await log.truncateTo('telemetry', 0, 100)).logEndOffset, 4);
  await log.append('telemetry', 0, makeRecords(5, 'more'));
  assert.equal(await waiting, true, 'a waiter for offset 8 wakes once offset 8 exists again');
  await log.close();
  const reopened = await Log.open({ dataDir });
  t.after(() => reopened.close());
  assert.equal(reopened.partition('telemetry', 0).logEndOffset, 9);
  assert.deepEqual(reopened.epochStartOffsets('telemetry', 0), [{ epoch: 0, startOffset: 0 }, { epoch: 2, startOffset: 3 }]);
});

test('truncateTo below the log start is refused', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'telemetry', partitions: 1, retention: { maxAgeMs: null, maxBytes: 1 } }] });
  t.after(() => log.close());
  await log.append('telemetry', 0, makeRecords(2));
  await log.append('telemetry', 0, makeRecords(2));
  await log.enforceRetention();
  const start = log.partition('telemetry', 0).logStartOffset;
  assert.ok(start > 0);
  await assert.rejects(log.truncateTo('telemetry', 0, 0), (err: unknown) => err instanceof OffsetMismatchError && err.expected === start);
});

test('retention cuts the head of the epoch cache: epochs whose batches are gone leave it, the oldest left starts at the log start', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'telemetry', partitions: 1, retention: { maxAgeMs: 1000, maxBytes: null } }] });
  t.after(() => log.close());
  await log.append('telemetry', 0, makeRecords(2, 'a', 1_000)); // epoch 0, old
  log.becomeLeader('telemetry', 0, 1);
  await log.append('telemetry', 0, makeRecords(2, 'b', 2_000)); // epoch 1, old
  await log.append('telemetry', 0, makeRecords(2, 'c', 1_000_000)); // epoch 1, young
  log.becomeLeader('telemetry', 0, 2);
  await log.append('telemetry', 0, makeRecords(2, 'd', 1_000_000)); // epoch 2
  const result = await log.enforceRetention(1_000_500);
  assert.equal(result.batchesDeleted, 2);
  assert.deepEqual(log.epochStartOffsets('telemetry', 0), [{ epoch: 1, startOffset: 4 }, { epoch: 2, startOffset: 6 }]);
});
