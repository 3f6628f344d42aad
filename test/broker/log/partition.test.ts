import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CommitPolicy, Log } from '../../../broker/log/log.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { makeRecords, values } from '../../helpers/records.js';

async function openLog(t: import('node:test').TestContext, commitPolicy?: CommitPolicy): Promise<Log> {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'telemetry', partitions: 2 }], ...(commitPolicy === undefined ? {} : { commitPolicy }) });
  t.after(() => log.close());
  return log;
}

/** A commit policy that commits nothing past `held.at` (what replication will do while a quorum lags). */
function heldBack(): { policy: CommitPolicy; held: { at: number } } {
  const held = { at: 0 };
  return { held, policy: (p) => Math.min(p.logEndOffset, held.at) };
}

test('single node: the high watermark follows the log end once an append is durable, and survives a reopen', async (t) => {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir, topics: [{ name: 'telemetry', partitions: 2 }] });
  const p = log.partition('telemetry', 0);
  assert.deepEqual([p.logEndOffset, p.highWatermark], [0, 0]);
  await log.append('telemetry', 0, makeRecords(3, 'a'));
  assert.deepEqual([p.logEndOffset, p.highWatermark], [3, 3]);
  const read = log.read('telemetry', 0, 0);
  assert.deepEqual([read.logEndOffset, read.highWatermark, read.nextOffset], [3, 3, 3]);
  assert.deepEqual(log.topics()[0]!.partitions[0], { partition: 0, logStartOffset: 0, logEndOffset: 3, highWatermark: 3, bytes: p.bytes });
  await log.close();
  const reopened = await Log.open({ dataDir });
  t.after(() => reopened.close());
  assert.equal(reopened.partition('telemetry', 0).highWatermark, 3);
});

test('reads stop at the high watermark unless they ask for the log end', async (t) => {
  const { policy, held } = heldBack();
  const log = await openLog(t, policy);
  const p = log.partition('telemetry', 0);
  await log.append('telemetry', 0, makeRecords(4, 'a'));
  held.at = 2; // commits only what the appends after this report
  await log.append('telemetry', 0, makeRecords(3, 'b'));
  assert.deepEqual([p.logEndOffset, p.highWatermark], [7, 2]);

  const committed = log.read('telemetry', 0, 0, { maxRecords: 100 });
  assert.deepEqual(values(committed.records), ['a-0', 'a-1'], 'never a record at or above the high watermark, even inside a stored batch');
  assert.deepEqual([committed.nextOffset, committed.highWatermark, committed.logEndOffset], [2, 2, 7]);
  assert.deepEqual(log.read('telemetry', 0, 2).records, [], 'between the high watermark and the log end: nothing yet, no error');
  assert.deepEqual(log.readBatches('telemetry', 0, 0), [], 'a batch the high watermark cuts is not served');
  assert.throws(() => log.read('telemetry', 0, 8), { code: 'TRIB_OFFSET_OUT_OF_RANGE' });

  assert.deepEqual(values(log.read('telemetry', 0, 0, { isolation: 'logEnd' }).records), ['a-0', 'a-1', 'a-2', 'a-3', 'b-0', 'b-1', 'b-2']);
  assert.deepEqual(log.readBatches('telemetry', 0, 0, undefined, 'logEnd').map((b) => [b.baseOffset, b.lastOffset]), [[0, 3], [4, 6]]);

  log.advanceHighWatermark('telemetry', 0, 4);
  assert.deepEqual(values(log.read('telemetry', 0, 0).records), ['a-0', 'a-1', 'a-2', 'a-3']);
  assert.deepEqual(log.readBatches('telemetry', 0, 0).map((b) => b.baseOffset), [0]);
  log.advanceHighWatermark('telemetry', 0, 100);
  assert.equal(p.highWatermark, 7, 'never past the log end');
  log.advanceHighWatermark('telemetry', 0, 1);
  assert.equal(p.highWatermark, 7, 'never back');
});

test('the offset for a timestamp is a committed one', async (t) => {
  const { policy, held } = heldBack();
  const log = await openLog(t, policy);
  await log.append('telemetry', 0, makeRecords(4, 'a')); // timestamps 1_700_000_000_000 + i
  assert.equal(log.offsetForTimestamp('telemetry', 0, 1_700_000_000_000), null);
  held.at = 2;
  log.advanceHighWatermark('telemetry', 0, 2);
  assert.equal(log.offsetForTimestamp('telemetry', 0, 1_700_000_000_001), 1);
  assert.equal(log.offsetForTimestamp('telemetry', 0, 1_700_000_000_003), null);
});

test('waitFor resolves when an append commits the offset, at once when it already is', async (t) => {
  const log = await openLog(t);
  const waiting = log.waitFor('telemetry', 0, 0, 60_000);
  let settled = false;
  void waiting.then(() => (settled = true));
  await log.append('telemetry', 1, makeRecords(1, 'other'));
  assert.equal(settled, false, 'another partition does not wake it');
  await log.append('telemetry', 0, makeRecords(1, 'a'));
  assert.equal(await waiting, true);
  assert.equal(await log.waitFor('telemetry', 0, 0, 60_000), true);
});

test('waitFor resolves false at its deadline', async (t) => {
  const log = await openLog(t);
  await log.append('telemetry', 0, makeRecords(2, 'a'));
  assert.equal(await log.waitFor('telemetry', 0, 2, 10), false);
  assert.equal(await log.waitFor('telemetry', 0, 1, 0), true);
});

test('many waiters on one partition wake as the high watermark passes their offsets, in order', async (t) => {
  const { policy, held } = heldBack();
  const log = await openLog(t, policy);
  const woken: number[] = [];
  const offsets = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000); // every offset once, shuffled
  const waits = offsets.map((o) => log.waitFor('telemetry', 0, o, 60_000).then((passed) => passed && woken.push(o)));
  held.at = 500;
  await log.append('telemetry', 0, makeRecords(1000, 'a'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(woken, Array.from({ length: 500 }, (_, i) => i), 'exactly the offsets below the high watermark, lowest first');
  log.advanceHighWatermark('telemetry', 0, 1000);
  await Promise.all(waits);
  assert.deepEqual(woken, Array.from({ length: 1000 }, (_, i) => i));
});

test('waiters for one offset that time out or abort leave the others waiting', async (t) => {
  const log = await openLog(t);
  const abort = new AbortController();
  const first = log.waitFor('telemetry', 0, 0, 60_000);
  const timesOut = log.waitFor('telemetry', 0, 0, 1);
  const aborted = log.waitFor('telemetry', 0, 0, 60_000, abort.signal);
  const last = log.waitFor('telemetry', 0, 0, 60_000);
  assert.equal(await timesOut, false);
  abort.abort();
  assert.equal(await aborted, false);
  await log.append('telemetry', 0, makeRecords(1, 'a'));
  assert.deepEqual(await Promise.all([first, last]), [true, true]);
});

test('an aborted wait resolves false and a closing log rejects the waiters with TRIB_LOG_CLOSED', async (t) => {
  const log = await openLog(t);
  const abort = new AbortController();
  const aborted = log.waitFor('telemetry', 0, 0, 60_000, abort.signal);
  abort.abort();
  assert.equal(await aborted, false);
  assert.equal(await log.waitFor('telemetry', 0, 0, 60_000, abort.signal), false, 'an already aborted signal');

  const pending = [log.waitFor('telemetry', 0, 0, 60_000), log.waitFor('telemetry', 1, 5, 60_000)];
  const closing = log.close();
  for (const wait of pending) await assert.rejects(wait, { code: 'TRIB_LOG_CLOSED' });
  await closing;
  await assert.rejects(log.waitFor('telemetry', 0, 0, 60_000), { code: 'TRIB_LOG_CLOSED' });
});

test('onPartitionsAdded tells of new topics and grown ones, not of appends, until unsubscribed', async (t) => {
  const log = await openLog(t);
  let told = 0;
  const unsubscribe = log.onPartitionsAdded(() => (told += 1));
  await log.append('telemetry', 0, makeRecords(1, 'a'));
  await log.createTopic('telemetry', 2);
  assert.equal(told, 0, 'nothing new');
  await log.createTopic('alerts', 1);
  await log.createTopic('telemetry', 3);
  assert.equal(told, 2);
  unsubscribe();
  await log.createTopic('more', 1);
  assert.equal(told, 2);
});
