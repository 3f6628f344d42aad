// The harness's checker on hand-made histories: a clean one passes; each kind of defect the
// replication must never show is flagged, and what MQTT allows (QoS 1 duplicates) is only counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { check, qos2BeyondSendings, type Operation, type Replica, type StoredRecord } from './checker.js';

function ops(publisher: string, count: number, qos: 1 | 2 = 1, acked = true): Operation[] {
  return Array.from({ length: count }, (_, seq) => ({ publisher, id: `${publisher}/${seq}`, seq, qos, sentAt: seq, acked, node: 'n0' }));
}

/** Stores the ids in this order at offsets 0.. of partition 0. */
function replica(node: string, ids: string[], highWatermark = ids.length): Replica {
  const records: StoredRecord[] = ids.map((id, offset) => ({ topic: 'mqtt', partition: 0, offset, id, bytes: Buffer.from(id) }));
  return { node, records, highWatermarks: { 'mqtt/0': highWatermark } };
}

const ids = (list: Operation[]): string[] => list.map((op) => op.id);

test('a clean history of two publishers on three identical replicas passes', () => {
  const history = [...ops('a', 5), ...ops('b', 5, 2)];
  const stored = ['a/0', 'b/0', 'a/1', 'a/2', 'b/1', 'b/2', 'a/3', 'b/3', 'a/4', 'b/4'];
  const report = check(history, [replica('n0', stored), replica('n1', stored), replica('n2', stored)]);
  assert.equal(report.ok, true, report.summary);
  assert.equal(report.acknowledged, 10);
  assert.deepEqual([report.lost, report.qos2Duplicates, report.orderViolations, report.divergent], [[], [], [], []]);
});

test('an acknowledged message missing from the reference is lost; an unacknowledged one is not', () => {
  const history = [...ops('a', 3), { publisher: 'a', id: 'a/3', seq: 3, qos: 1 as const, sentAt: 3, acked: false, node: 'n0' }];
  const report = check(history, [replica('n0', ['a/0', 'a/2'])]);
  assert.equal(report.ok, false);
  assert.deepEqual(report.lost.map((op) => op.id), ['a/1']);
});

test('a QoS 2 message stored twice fails; QoS 1 duplicates are counted and allowed', () => {
  const q2 = check(ops('a', 3, 2), [replica('n0', ['a/0', 'a/1', 'a/1', 'a/2'])]);
  assert.equal(q2.ok, false);
  assert.deepEqual(q2.qos2Duplicates, [{ id: 'a/1', copies: 2 }]);

  // A resend after a failover: a/1 again after a/2. Neither a failure nor an order violation.
  const q1 = check(ops('a', 3, 1), [replica('n0', ['a/0', 'a/1', 'a/2', 'a/1'])]);
  assert.equal(q1.ok, true, q1.summary);
  assert.equal(q1.qos1Duplicates, 1);
});

test("a publisher's messages stored out of its order are an order violation", () => {
  const report = check(ops('a', 3), [replica('n0', ['a/0', 'a/2', 'a/1'])]);
  assert.equal(report.ok, false);
  assert.deepEqual(report.orderViolations, [{ publisher: 'a', partition: 'mqtt/0', after: 2, seq: 1, offset: 2 }]);
});

test('replicas that differ below the high watermark are divergent; above it they may differ', () => {
  const history = ops('a', 4);
  const leader = replica('n0', ids(history));
  const follower = replica('n1', ids(history));
  follower.records[1] = { ...follower.records[1]!, bytes: Buffer.from('something else') };
  const report = check(history, [leader, follower], { reference: 'n0' });
  assert.equal(report.ok, false);
  assert.deepEqual(report.divergent, [{ a: 'n0', b: 'n1', partition: 'mqtt/0', offset: 1, why: 'different bytes' }]);

  // A follower behind, and a tail past its high watermark that the leader does not have: fine.
  const behind = replica('n2', ['a/0', 'a/1', 'zz'], 2);
  const clean = check(history, [leader, behind], { reference: 'n0' });
  assert.equal(clean.ok, true, clean.summary);

  // A record missing on a replica below both high watermarks is a divergence too.
  const holed = replica('n1', ids(history));
  holed.records.splice(2, 1);
  assert.deepEqual(check(history, [leader, holed], { reference: 'n0' }).divergent, [{ a: 'n0', b: 'n1', partition: 'mqtt/0', offset: 2, why: 'missing on n1' }]);
});

test('without a named reference, the replica with the highest high watermark is the reference', () => {
  const history = ops('a', 3);
  const report = check(history, [replica('n0', ['a/0'], 1), replica('n1', ids(history))]);
  assert.equal(report.reference, 'n1');
  assert.equal(report.lost.length, 0);
});

test('a QoS 2 duplicate is explained by as many sendings on new sessions, on the same node or another; more copies than sendings are not', () => {
  const duplicates = [
    { id: 'q/0', copies: 2 }, // sent twice to the same leader in the same epoch (the first connection timed out)
    { id: 'q/1', copies: 2 }, // sent once
    { id: 'q/2', copies: 3 }, // sent twice
  ];
  const sendings: Record<string, number> = { 'q/0': 2, 'q/1': 1, 'q/2': 2 };
  assert.deepEqual(qos2BeyondSendings(duplicates, (id) => sendings[id]!), [
    { id: 'q/1', copies: 2 },
    { id: 'q/2', copies: 3 },
  ]);
});
