// Held appends: what is held while a retry is due goes into that one retry; the backoff grows with
// each retry and starts over once an append went through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiskFullError, InvalidRecordError } from '../../../broker/errors.js';
import { HeldAppends, RETRY_FIRST_MS, retriableAppendFailure } from '../../../bridge/mqtt/held-appends.js';

test('only failures marked retriable are retried', () => {
  assert.equal(retriableAppendFailure(new DiskFullError('the disk is full')), true);
  assert.equal(retriableAppendFailure(new InvalidRecordError('bad record')), false);
  assert.equal(retriableAppendFailure(new Error('anything else')), false);
});

test('items held while a retry is due are retried together, with a growing backoff that an append resets', async () => {
  let retried: (held: string[]) => void = () => undefined;
  const held = new HeldAppends<string>((items) => retried(items), false); // referenced: the test waits on it
  const next = (): Promise<string[]> => new Promise((resolve) => (retried = resolve));

  // Attempt n waits between half and all of RETRY_FIRST_MS * 2^n (backoff.ts).
  let round = next();
  const first = held.hold('a');
  assert.ok(first >= RETRY_FIRST_MS / 2 && first <= RETRY_FIRST_MS, `first delay ${first}`);
  assert.equal(held.hold('b'), -1, 'a retry is already due');
  assert.deepEqual(await round, ['a', 'b']);

  round = next();
  const second = held.hold('c');
  assert.ok(second >= RETRY_FIRST_MS && second <= RETRY_FIRST_MS * 2, `second delay ${second}`);
  assert.deepEqual(await round, ['c']);

  held.succeeded();
  round = next();
  const afterSuccess = held.hold('d');
  assert.ok(afterSuccess >= RETRY_FIRST_MS / 2 && afterSuccess <= RETRY_FIRST_MS, `delay after a success ${afterSuccess}`);
  assert.deepEqual(await round, ['d']);
});
