import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../bridge/backoff.js';

test('backoff: doubles from the initial delay up to the cap, with jitter between half and all of it', () => {
  assert.equal(backoffDelay(0, 250, 30_000, () => 0), 125);
  assert.equal(backoffDelay(0, 250, 30_000, () => 1), 250);
  assert.equal(backoffDelay(3, 250, 30_000, () => 1), 2000);
  assert.equal(backoffDelay(20, 250, 30_000, () => 1), 30_000);
  assert.equal(backoffDelay(20, 250, 30_000, () => 0), 15_000);
});
