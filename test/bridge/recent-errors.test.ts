import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentErrors } from '../../bridge/recent-errors.js';

test('a repeated problem updates its entry; the oldest distinct problem leaves when full', () => {
  const errors = new RecentErrors(3);
  const at = (s: number): Date => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  errors.add('mqtt', 'publish refused: not authorized', "client 'a'", at(1));
  errors.add('retention', 'retention pass failed', 'disk I/O error', at(2));
  errors.add('mqtt', 'publish refused: not authorized', "client 'b'", at(3));
  assert.deepEqual(errors.list().map((e) => [e.summary, e.count, e.detail]), [
    ['publish refused: not authorized', 2, "client 'b'"],
    ['retention pass failed', 1, 'disk I/O error'],
  ]);
  assert.equal(errors.list()[0]!.firstAt, at(1).toISOString());
  assert.equal(errors.list()[0]!.lastAt, at(3).toISOString());
  errors.add('upstream', 'Kafka unreachable', 'ECONNREFUSED', at(4));
  errors.add('mqtt', 'client error', 'keep-alive timeout', at(5));
  assert.deepEqual(errors.list().map((e) => e.summary), ['client error', 'Kafka unreachable', 'publish refused: not authorized']);
});
