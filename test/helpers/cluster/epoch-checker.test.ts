// The epoch checker (invariant 1) on hand-made histories: one node per epoch passes; two nodes
// acknowledging in one epoch, a node acknowledging in an epoch it did not lead, and an
// acknowledgement stored in another epoch than the node led at connect are each flagged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Replica } from './checker.js';
import { checkAcknowledgementEpochs, type Acknowledgement, type BatchEpoch } from './epoch-checker.js';

/** Stores the ids at offsets 0.. of mqtt/0. */
function replica(ids: string[]): Replica {
  return { node: 'n0', records: ids.map((id, offset) => ({ topic: 'mqtt', partition: 0, offset, id, bytes: Buffer.from(id) })), highWatermarks: { 'mqtt/0': ids.length } };
}

/** One batch per epoch: `spans` are [epoch, first offset, last offset]. */
const batches = (spans: Array<[number, number, number]>): BatchEpoch[] => spans.map(([epoch, baseOffset, lastOffset]) => ({ topic: 'mqtt', partition: 0, baseOffset, lastOffset, epoch }));

const ack = (id: string, node: string, epochAtConnect: number | null = null): Acknowledgement => ({ id, node, epochAtConnect });

const leaders = new Map([
  [1, 'n0'],
  [2, 'n1'],
]);

test('acknowledgements of one node per epoch, the epoch leaders, pass', () => {
  const report = checkAcknowledgementEpochs([ack('a/0', 'n0', 1), ack('a/1', 'n0', 1), ack('a/2', 'n1', 2)], replica(['a/0', 'a/1', 'a/2']), batches([[1, 0, 1], [2, 2, 2]]), leaders);
  assert.equal(report.ok, true, report.summary);
  assert.deepEqual(report.epochs, [
    { epoch: 1, leader: 'n0', nodes: ['n0'], acknowledged: 2 },
    { epoch: 2, leader: 'n1', nodes: ['n1'], acknowledged: 1 },
  ]);
});

test('two nodes acknowledging in the same epoch are flagged, and the one that did not lead it', () => {
  const report = checkAcknowledgementEpochs([ack('a/0', 'n0'), ack('b/0', 'n1')], replica(['a/0', 'b/0']), batches([[1, 0, 1]]), leaders);
  assert.equal(report.ok, false);
  assert.deepEqual(report.shared, [{ epoch: 1, nodes: ['n0', 'n1'] }]);
  assert.deepEqual(report.notTheLeader, [{ id: 'b/0', epoch: 1, node: 'n1', leader: 'n0' }]);
});

test('an acknowledgement stored in another epoch than the node said it led at connect is flagged', () => {
  const report = checkAcknowledgementEpochs([ack('a/0', 'n1', 1)], replica(['a/0']), batches([[2, 0, 0]]), leaders);
  assert.equal(report.ok, false);
  assert.deepEqual(report.otherEpochThanAtConnect, [{ id: 'a/0', node: 'n1', atConnect: 1, stored: 2 }]);
});

test('a message stored twice (a resend across a failover) counts in the later epoch; one not stored is left to the main checker', () => {
  // a/0 sent to n0 in epoch 1 (stored, never acknowledged), then sent again to n1 and acknowledged in epoch 2.
  const report = checkAcknowledgementEpochs([ack('a/0', 'n1', 2), ack('a/1', 'n1', 2)], replica(['a/0', 'a/0']), batches([[1, 0, 0], [2, 1, 1]]), leaders);
  assert.equal(report.ok, true, report.summary);
  assert.equal(report.unattributed, 1);
  assert.deepEqual(report.epochs, [{ epoch: 2, leader: 'n1', nodes: ['n1'], acknowledged: 1 }]);
});
