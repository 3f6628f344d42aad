// The replication log the log exposes (log.ts: lastEntry, readEntries, appendEntries,
// truncateEntriesAfter, commitEntries; docs/replication.md): every stored batch in append order at
// a position that is the same on every replica.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Log, replicatedCommit, type EntryPosition, type LogOptions, type StoredEntry } from '../../../broker/log/log.js';
import { makeRecords, values } from '../../helpers/records.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { PATIENCE_MS, pollUntil } from '../../helpers/wait-for.js';

async function openLog(t: TestContext, options: Partial<LogOptions> = {}): Promise<Log> {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'a', partitions: 2 }], ...options });
  t.after(() => log.close());
  return log;
}

test('a follower stores the leader entries byte for byte at the leader positions, creating their topics', async (t) => {
  const leader = await openLog(t);
  await leader.createTopic('b', 1);
  leader.becomeClusterLeader(3);
  await leader.append('a', 1, makeRecords(2, 'x'));
  await leader.append('b', 0, makeRecords(1, 'y'));
  await leader.append('a', 0, makeRecords(3, 'z'));
  const entries = leader.readEntries(0, 1 << 20);
  assert.deepEqual(entries.map((e) => [e.seq, e.epoch, e.topic, e.partition]), [[1, 3, 'a', 1], [2, 3, 'b', 0], [3, 3, 'a', 0]]);
  assert.deepEqual(leader.lastEntry(), { seq: 3, epoch: 3 });

  const follower = await openLog(t, { topics: [] });
  await follower.appendEntries(entries.slice(0, 2));
  await follower.appendEntries(entries.slice(2));
  assert.deepEqual(follower.lastEntry(), { seq: 3, epoch: 3 });
  const copied = follower.readEntries(0, 1 << 20);
  assert.deepEqual(copied.map((e) => e.seq), [1, 2, 3]);
  for (let i = 0; i < 3; i++) assert.ok(copied[i]!.batch.equals(entries[i]!.batch));
  // A position already held is refused: entries go in order, once.
  await assert.rejects(follower.appendEntries(entries.slice(2)), { code: 'TRIB_LOG_OFFSET_MISMATCH' });
  // Nothing is committed until commitEntries says so; then readers see it.
  assert.equal(follower.partition('a', 0).highWatermark, 3); // a plain log commits what is durable
});

test('positions go on after retention emptied the log, across a restart (they are never handed out twice)', async (t) => {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir, topics: [{ name: 'a', partitions: 2 }] });
  await log.append('a', 0, makeRecords(2, 'old', 1_000));
  await log.append('a', 1, makeRecords(1, 'old', 1_000));
  assert.deepEqual(log.lastEntry().seq, 2);
  await log.createTopic('a', 2, { maxAgeMs: 1, maxBytes: null });
  const result = await log.enforceRetention();
  assert.equal(result.batchesDeleted, 2);
  await log.close();
  const reopened = await Log.open({ dataDir });
  t.after(() => reopened.close());
  assert.deepEqual(reopened.readEntries(0, 1 << 20), []);
  assert.equal(reopened.lastEntry().seq, 2, 'the deleted last entry is still the position');
  await reopened.append('a', 0, makeRecords(1, 'new'));
  assert.deepEqual(reopened.readEntries(0, 1 << 20).map((e) => e.seq), [3]);
});

test('truncateEntriesAfter cuts a divergent tail across partitions; the epoch boundary is found per epoch', async (t) => {
  const log = await openLog(t);
  log.becomeClusterLeader(1);
  await log.append('a', 0, makeRecords(1, 'e1'));
  await log.append('a', 1, makeRecords(1, 'e1'));
  log.becomeClusterLeader(2);
  await log.append('a', 1, makeRecords(1, 'e2'));
  await log.append('a', 0, makeRecords(2, 'e2'));
  log.becomeClusterLeader(4);
  await log.append('a', 0, makeRecords(1, 'e4'));
  assert.deepEqual(log.lastEntryAtOrBelowEpoch(1), { seq: 2, epoch: 1 });
  assert.deepEqual(log.lastEntryAtOrBelowEpoch(3), { seq: 4, epoch: 2 });
  assert.deepEqual(log.lastEntryAtOrBelowEpoch(9), { seq: 5, epoch: 4 });
  assert.deepEqual(log.lastEntryAtOrBelowEpoch(0), { seq: 0, epoch: -1 });
  await log.truncateEntriesAfter(2);
  assert.deepEqual(log.lastEntry(), { seq: 2, epoch: 1 });
  assert.deepEqual(values(log.read('a', 0, 0, { isolation: 'logEnd' }).records), ['e1-0']);
  assert.deepEqual(values(log.read('a', 1, 0, { isolation: 'logEnd' }).records), ['e1-0']);
});

test('under acknowledge committed an append resolves only when committed, and fails when leadership ends', async (t) => {
  const log = await openLog(t, { commitPolicy: replicatedCommit, acknowledge: 'committed' });
  log.becomeClusterLeader(1);
  let done = false;
  const first = log.append('a', 0, makeRecords(1, 'one')).then((info) => {
    done = true;
    return info;
  });
  // Durable but not committed.
  await pollUntil(() => log.partition('a', 0).logEndOffset >= 1, PATIENCE_MS, 5);
  await new Promise((r) => setImmediate(r));
  assert.equal(done, false);
  assert.equal(log.partition('a', 0).logEndOffset, 1);
  assert.equal(log.partition('a', 0).highWatermark, 0);
  log.commitEntries(1);
  assert.equal((await first).baseOffset, 0);
  assert.equal(log.partition('a', 0).highWatermark, 1);
  const pending = log.append('a', 0, makeRecords(1, 'two'));
  await new Promise((r) => setImmediate(r));
  log.refuseAppends('a follower now');
  await assert.rejects(pending, { code: 'TRIB_LOG_NOT_LEADER' });
  await assert.rejects(log.append('a', 0, makeRecords(1, 'three')), { code: 'TRIB_LOG_NOT_LEADER', message: /a follower now/ });
});

test('many appends waiting to be committed at once raise no listener-leak warning (a leader under load: one abort listener each on the leadership signal, each removed when it resolves)', async (t) => {
  const log = await openLog(t, { commitPolicy: replicatedCommit, acknowledge: 'committed' });
  log.becomeClusterLeader(1);
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const appends = Array.from({ length: 50 }, (_, i) => log.append('a', 0, makeRecords(1, `w${i}`)));
  await pollUntil(() => log.partition('a', 0).logEndOffset >= 50, PATIENCE_MS, 5);
  log.commitEntries(log.lastEntry().seq);
  await Promise.all(appends);
  await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
  assert.deepEqual(warnings, []);
});

test('a commit that names an entry before its append result reached the main thread still covers it once the result arrives (a follower can fetch and report a row the leader wrote before the leader processed the result)', async (t) => {
  const log = await openLog(t, { commitPolicy: replicatedCommit, acknowledge: 'committed' });
  log.becomeClusterLeader(1);
  const appended = log.append('a', 0, makeRecords(1, 'raced'));
  // The writer thread is sent the batch on a microtask; its answer comes as a message (a macrotask).
  for (let i = 0; i < 10; i++) await null;
  // Without yielding to macrotasks: wait until the row is in the database, then commit it.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const deadline = Date.now() + PATIENCE_MS; log.lastEntry().seq < 1 && Date.now() < deadline; ) Atomics.wait(pause, 0, 0, 1);
  assert.equal(log.lastEntry().seq, 1, 'the row is stored');
  assert.equal(log.partition('a', 0).logEndOffset, 0, 'and its result not yet processed');
  log.commitEntries(1);
  await pollUntil(() => log.partition('a', 0).logEndOffset >= 1, PATIENCE_MS, 5);
  assert.equal(log.partition('a', 0).highWatermark, 1);
  assert.equal((await appended).baseOffset, 0);
});

test('with committedOnOpen false a reopened log commits nothing until commitEntries says so (a replica tail may be truncated yet)', async (t) => {
  const dataDir = tempDir(t);
  const plain = await Log.open({ dataDir, topics: [{ name: 'a', partitions: 1 }] });
  await plain.append('a', 0, makeRecords(2, 'one'));
  await plain.append('a', 0, makeRecords(1, 'two'));
  await plain.close();
  const log = await Log.open({ dataDir, commitPolicy: replicatedCommit, acknowledge: 'committed', committedOnOpen: false });
  t.after(() => log.close());
  assert.equal(log.partition('a', 0).highWatermark, 0);
  assert.deepEqual(values(log.read('a', 0, 0).records), []);
  log.commitEntries(1);
  assert.equal(log.partition('a', 0).highWatermark, 2);
  assert.deepEqual(values(log.read('a', 0, 0).records), ['one-0', 'one-1']);
});

test('a first commit of many entries (after a start) moves every partition to its last batch at or below the position', async (t) => {
  const dataDir = tempDir(t);
  const plain = await Log.open({ dataDir, topics: [{ name: 'a', partitions: 2 }] });
  // 10,100 one-record batches, alternating partitions (positions 1..10100), appended together: few commits.
  await Promise.all(Array.from({ length: 10_100 }, (_, i) => plain.append('a', i % 2, makeRecords(1, `r${i}`))));
  await plain.close();
  const log = await Log.open({ dataDir, commitPolicy: replicatedCommit, committedOnOpen: false });
  t.after(() => log.close());
  log.commitEntries(10_001); // position 10,001 is partition 0's 5,001st batch; 10,000 partition 1's 5,000th
  assert.deepEqual([log.partition('a', 0).highWatermark, log.partition('a', 1).highWatermark], [5001, 5000]);
  log.commitEntries(10_004); // a few more: the rows between
  assert.deepEqual([log.partition('a', 0).highWatermark, log.partition('a', 1).highWatermark], [5002, 5002]);
});

test('with stageBeforeSync a leader serves new entries before its own commit of them ends, byte for byte as it then stores them (Raft, section 10.2.1)', async (t) => {
  const leader = await openLog(t, { stageBeforeSync: true });
  leader.becomeClusterLeader(4);
  await leader.append('a', 0, makeRecords(1, 'first'));
  let resolved = false;
  const seen: Array<{ resolved: boolean; entries: StoredEntry[]; atOrBelow: EntryPosition; appended: EntryPosition }> = [];
  leader.onEntriesStaged(() => {
    seen.push({ resolved, entries: leader.readEntries(1, 1 << 20), atOrBelow: leader.lastEntryAtOrBelowEpoch(4), appended: leader.lastAppendedEntry() });
  });
  await leader.append('a', 1, makeRecords(2, 'second')).then(() => {
    resolved = true;
  });
  assert.equal(seen.length, 1, 'told once, for the one group');
  const early = seen[0]!;
  assert.equal(early.resolved, false, 'readable before the append resolved (before its commit was reported)');
  assert.deepEqual(early.entries.map((e) => [e.seq, e.epoch, e.topic, e.partition]), [[2, 4, 'a', 1]]);
  assert.deepEqual(early.atOrBelow, { seq: 2, epoch: 4 }, 'a follower that stored it early does not diverge');
  assert.deepEqual(early.appended, { seq: 2, epoch: 4 });
  const stored = leader.readEntries(0, 1 << 20);
  assert.ok(early.entries[0]!.batch.equals(stored[1]!.batch), 'served as it is stored (offsets and epoch patched in)');
  // A follower stores what it was served early, at the leader's positions.
  const follower = await openLog(t, { topics: [] });
  await follower.appendEntries(stored.slice(0, 1));
  await follower.appendEntries(early.entries);
  assert.deepEqual(follower.lastEntry(), { seq: 2, epoch: 4 });
  assert.deepEqual(values(follower.read('a', 1, 0).records), ['second-0', 'second-1']);
});

test('with keysInBatches a follower holds the idempotence key of a keyed batch it copies, and releases it when the release record comes', async (t) => {
  const leader = await openLog(t, { keysInBatches: true });
  leader.becomeClusterLeader(1);
  const key = { producer: 'mqtt:press-7', sequence: 7 };
  await leader.append('a', 0, makeRecords(1, 'seven'), { idempotenceKey: key });
  const follower = await openLog(t, { topics: [] });
  await follower.appendEntries(leader.readEntries(0, 1 << 20));
  // The follower, leading now, refuses the resend as a duplicate.
  follower.becomeClusterLeader(2);
  const resent = await follower.append('a', 0, makeRecords(1, 'seven'), { idempotenceKey: key });
  assert.equal(resent.duplicate, true);
  assert.deepEqual(values(follower.read('a', 0, 0).records), ['seven-0']);

  // A release on the leader travels as a record: a copy of it releases the key on the follower.
  const other = await openLog(t, { topics: [] });
  assert.equal(await leader.releaseIdempotenceKeys(key.producer, key.sequence), 1);
  await other.appendEntries(leader.readEntries(0, 1 << 20));
  other.becomeClusterLeader(2);
  assert.equal((await other.append('a', 0, makeRecords(1, 'reused'), { idempotenceKey: key })).duplicate, false);
});

test('a follower partition that holds nothing begins at the leader\'s first remaining batch (the leader\'s retention deleted the start), at the same offsets; one that holds batches still refuses a gap', async (t) => {
  const leader = await openLog(t);
  leader.becomeClusterLeader(1);
  await leader.append('a', 0, makeRecords(3, 'old', 1_000));
  const now = Date.now();
  await leader.append('a', 0, makeRecords(2, 'kept', now));
  await leader.append('a', 1, makeRecords(1, 'b', now));
  await leader.append('a', 1, makeRecords(1, 'b2', now));
  await leader.createTopic('a', 2, { maxAgeMs: 60_000, maxBytes: null });
  assert.equal((await leader.enforceRetention()).batchesDeleted, 1); // a-0's first batch (offsets 0-2)
  assert.equal(leader.partition('a', 0).logStartOffset, 3);
  const entries = leader.readEntries(0, 1 << 20);
  assert.deepEqual(entries.map((e) => [e.seq, e.topic, e.partition]), [[2, 'a', 0], [3, 'a', 1], [4, 'a', 1]]);

  // A wiped follower: empty, it begins a-0 at 3, the leader's log start, and holds the same offsets.
  const follower = await openLog(t, { topics: [] });
  await follower.appendEntries(entries);
  assert.equal(follower.partition('a', 0).logStartOffset, 3);
  assert.equal(follower.partition('a', 0).logEndOffset, 5);
  assert.deepEqual(follower.read('a', 0, 3).records.map((r) => [r.offset, r.value?.toString()]), leader.read('a', 0, 3).records.map((r) => [r.offset, r.value?.toString()]));
  assert.equal(follower.partition('a', 1).logStartOffset, 0);
  assert.deepEqual(follower.readEntries(0, 1 << 20).map((e) => e.seq), [2, 3, 4]);

  // A partition that holds batches: a batch beyond its end is a gap, refused as before.
  const source = await openLog(t);
  for (const v of ['p', 'q', 'r']) await source.append('a', 0, makeRecords(1, v));
  const [first, , third] = source.readEntries(0, 1 << 20);
  const gap = await openLog(t, { topics: [] });
  await gap.appendEntries([first!]);
  await assert.rejects(gap.appendEntries([third!]), { code: 'TRIB_LOG_OFFSET_MISMATCH' });
  assert.equal(gap.partition('a', 0).logStartOffset, 0);
});

test('the last position stays where it was when retention deletes the newest entry while older ones of another partition remain (a follower fetching from an earlier position would be refused its entries forever)', async (t) => {
  const log = await openLog(t);
  await log.append('a', 1, makeRecords(1, 'fresh', Date.now())); // seq 1, kept
  await log.append('a', 0, makeRecords(2, 'old', 1_000)); // seq 2, past its age
  assert.deepEqual(log.lastEntry().seq, 2);
  await log.createTopic('a', 2, { maxAgeMs: 60_000, maxBytes: null });
  assert.equal((await log.enforceRetention()).batchesDeleted, 1);
  assert.deepEqual(log.readEntries(0, 1 << 20).map((e) => e.seq), [1]);
  assert.equal(log.lastEntry().seq, 2, 'the deleted newest entry is still the position');
  // A follower at that position is not told it diverged (where its epoch ends here is that position too).
  assert.deepEqual(log.lastEntryAtOrBelowEpoch(log.lastEntry().epoch), log.lastEntry());
  await log.append('a', 1, makeRecords(1, 'next', Date.now()));
  assert.deepEqual(log.readEntries(0, 1 << 20).map((e) => e.seq), [1, 3]);
});

test('a follower partition that holds batches but lags behind the leader\'s retention is emptied and begins at the leader\'s log start, when the leader\'s log start says so; a gap it does not explain is still refused', async (t) => {
  const leader = await openLog(t);
  leader.becomeClusterLeader(1);
  await leader.append('a', 0, makeRecords(2, 'old', 1_000)); // seq 1, offsets 0-1
  await leader.append('a', 0, makeRecords(3, 'old2', 1_000)); // seq 2, offsets 2-4
  const now = Date.now();
  await leader.append('a', 0, makeRecords(2, 'kept', now)); // seq 3, offsets 5-6
  await leader.append('a', 1, makeRecords(1, 'b', now)); // seq 4
  const before = leader.readEntries(0, 1 << 20);

  // The follower fetched the first entry only, then stopped; the leader's retention deleted the
  // first two entries of a-0, the second of which the follower never had.
  const dataDir = tempDir(t);
  const first = await Log.open({ dataDir, topics: [] });
  await first.appendEntries(before.slice(0, 1));
  assert.equal(first.partition('a', 0).logEndOffset, 2);
  await first.close();
  await leader.createTopic('a', 2, { maxAgeMs: 60_000, maxBytes: null });
  assert.equal((await leader.enforceRetention()).batchesDeleted, 2);
  assert.equal(leader.partition('a', 0).logStartOffset, 5);
  const after = leader.readEntries(1, 1 << 20);
  assert.deepEqual(after.map((e) => [e.seq, e.topic, e.partition]), [[3, 'a', 0], [4, 'a', 1]]);

  const follower = await Log.open({ dataDir });
  t.after(() => follower.close());
  // Without the leader's log start (an older leader), or with one at or below its end, the gap is refused.
  await assert.rejects(follower.appendEntries(after), { code: 'TRIB_LOG_OFFSET_MISMATCH' });
  await assert.rejects(follower.appendEntries(after, [{ topic: 'a', partition: 0, logStartOffset: 2 }]), { code: 'TRIB_LOG_OFFSET_MISMATCH' });
  assert.equal(follower.partition('a', 0).logEndOffset, 2, 'nothing changed');
  assert.deepEqual(follower.readEntries(0, 1 << 20).map((e) => e.seq), [1]);

  // The leader's log start (5) is above the follower's end (2): emptied, it begins at 5.
  await follower.appendEntries(after, [{ topic: 'a', partition: 0, logStartOffset: 5 }, { topic: 'a', partition: 1, logStartOffset: 0 }]);
  assert.equal(follower.partition('a', 0).logStartOffset, 5);
  assert.equal(follower.partition('a', 0).logEndOffset, 7);
  assert.deepEqual(follower.readEntries(0, 1 << 20).map((e) => e.seq), [3, 4]);
  const held = (log: Log): unknown[] => log.read('a', 0, 5).records.map((r) => [r.offset, r.value?.toString()]);
  assert.deepEqual(held(follower), held(leader));
  assert.deepEqual(follower.epochStartOffsets('a', 0), leader.epochStartOffsets('a', 0));
  assert.deepEqual(follower.lastEntry(), leader.lastEntry());
  // It goes on from there as any follower.
  await leader.append('a', 0, makeRecords(1, 'next', now));
  await follower.appendEntries(leader.readEntries(4, 1 << 20));
  assert.equal(follower.partition('a', 0).logEndOffset, 8);
});
