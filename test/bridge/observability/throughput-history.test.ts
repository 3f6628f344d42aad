import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThroughputHistory, type ThroughputCounters } from '../../../bridge/observability/throughput-history.js';

test('samples are rates over the time between readings, oldest first, at most capacity of them', () => {
  const counters: ThroughputCounters = { publishesReceived: 0, publishesStored: 0, bytesReceived: 0 };
  const history = new ThroughputHistory(() => counters, 3);
  history.sample(1000);
  assert.deepEqual(history.list(), [], 'one reading is no rate yet');
  for (let second = 2; second <= 6; second++) {
    counters.publishesReceived += second * 10;
    counters.publishesStored += second * 5;
    counters.bytesReceived += second * 100;
    history.sample(second * 1000);
  }
  assert.deepEqual(history.list(), [
    { time: 4000, publishesPerSecond: 40, storedPerSecond: 20, bytesPerSecond: 400 },
    { time: 5000, publishesPerSecond: 50, storedPerSecond: 25, bytesPerSecond: 500 },
    { time: 6000, publishesPerSecond: 60, storedPerSecond: 30, bytesPerSecond: 600 },
  ]);
  counters.publishesReceived += 5;
  history.sample(8000); // two seconds later: 5 over 2 s
  assert.equal(history.list().at(-1)!.publishesPerSecond, 2.5);
  history.sample(8000); // no time passed: no sample
  assert.equal(history.list().length, 3);
});

test('a counter that went back (a restarted component) gives 0, not a negative rate', () => {
  let received = 100;
  const history = new ThroughputHistory(() => ({ publishesReceived: received, publishesStored: 0, bytesReceived: 0 }));
  history.sample(0);
  received = 10;
  history.sample(1000);
  assert.equal(history.list()[0]!.publishesPerSecond, 0);
});
