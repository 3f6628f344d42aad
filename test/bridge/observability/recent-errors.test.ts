import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentErrors, watchUpstreamErrors } from '../../../bridge/observability/recent-errors.js';

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

test("upstream errors are recorded as they appear, once per change of the forwarder's last error", async () => {
  const errors = new RecentErrors();
  let lastError: string | null = null;
  let partitionError: string | null = null;
  const stop = watchUpstreamErrors(
    {
      status: () => ({
        connected: lastError === null,
        recordsForwarded: 0,
        bytesForwarded: 0,
        errors: 0,
        lastError,
        partitions: [{ topic: 'mqtt', partition: 0, forwardedOffset: 0, highWatermark: 5, lag: 5, lastError: partitionError }],
      }),
    },
    errors,
    5,
  );
  const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 30));
  try {
    await tick();
    assert.deepEqual(errors.list(), []);
    lastError = 'TRIB_UPSTREAM_UNAVAILABLE: cannot reach Kafka at 127.0.0.1:1 (ECONNREFUSED)';
    await tick();
    await tick();
    assert.deepEqual(errors.list().map((e) => [e.component, e.summary, e.count]), [['upstream', 'forwarding failed: TRIB_UPSTREAM_UNAVAILABLE', 1]]);
    lastError = null;
    partitionError = 'TRIB_UPSTREAM_REJECTED: RECORD_TOO_LARGE';
    await tick();
    const [latest] = errors.list();
    assert.equal(latest!.summary, 'forwarding failed: TRIB_UPSTREAM_REJECTED');
    assert.equal(latest!.detail, 'mqtt/0: TRIB_UPSTREAM_REJECTED: RECORD_TOO_LARGE');
    lastError = 'TRIB_UPSTREAM_UNAVAILABLE: cannot reach Kafka at 127.0.0.1:1 (ECONNREFUSED)';
    await tick();
    assert.equal(errors.list().find((e) => e.summary === 'forwarding failed: TRIB_UPSTREAM_UNAVAILABLE')!.count, 2, 'it came back after clearing');
  } finally {
    stop();
  }
});
