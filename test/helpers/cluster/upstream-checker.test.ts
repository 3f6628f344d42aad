// The upstream checker on hand-made data: the edge log once upstream passes; a record missing,
// forwarded twice, or with other bytes is flagged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Replica } from './checker.js';
import { checkUpstream, type CentralRecord } from './upstream-checker.js';

const edge: Replica = {
  node: 'n0',
  records: ['a', 'b', 'c'].map((v, offset) => ({ topic: 'mqtt', partition: 0, offset, id: v, bytes: Buffer.from(v) })),
  highWatermarks: { 'mqtt/0': 3 },
};
const up = (value: string, offset: number): CentralRecord => ({ value, headers: { 'tributary.partition': '0', 'tributary.offset': String(offset) } });

test('the edge log upstream once passes', () => {
  const report = checkUpstream(edge, 'mqtt', [up('a', 0), up('b', 1), up('c', 2)]);
  assert.equal(report.ok, true, report.summary);
});

test('a record missing, forwarded twice or with other bytes is flagged', () => {
  const report = checkUpstream(edge, 'mqtt', [up('a', 0), up('a', 0), up('x', 2)]);
  assert.equal(report.ok, false);
  assert.deepEqual(report.missing, ['mqtt/0@1']);
  assert.deepEqual(report.twice, ['mqtt/0@0']);
  assert.deepEqual(report.differing, ['mqtt/0@2']);
});
