// Held appends: what is held while a retry is due goes into that one retry; the backoff grows with
// each retry and starts over once an append went through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiskFullError, InvalidRecordError, ReadOnlyStorageError } from '../../../broker/errors.js';
import { createLogger } from '../../../bridge/logger.js';
import { AppendFailedError, isRefusal } from '../../../bridge/mqtt/errors.js';
import { AppendFailures, HeldAppends, RETRY_FIRST_MS, retriableAppendFailure } from '../../../bridge/mqtt/held-appends.js';

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

test('AppendFailures: a passing failure is retried until the node stops; a failure for good becomes a typed refusal carrying the log error', () => {
  const problems: string[] = [];
  const failures = new AppendFailures(createLogger('silent'), (summary, detail) => problems.push(`${summary} | ${detail}`));
  const diskFull = new DiskFullError('data');
  assert.equal(failures.retried(diskFull), true);
  assert.equal(failures.retried(new InvalidRecordError('bad record')), false);
  failures.retrying('meter-1', diskFull, 100);
  assert.equal(failures.retries, 1);

  const readOnly = new ReadOnlyStorageError('data');
  const error = failures.failed('meter-1', readOnly);
  assert.ok(error instanceof AppendFailedError);
  assert.equal(error.code, 'TRIB_MQTT_APPEND_FAILED');
  assert.equal(error.cause, readOnly);
  assert.equal(error.message, readOnly.message);
  assert.equal(error.retriable, false, 'as retriable as its cause');
  assert.equal(isRefusal(error), true, 'reported here, not again as a client error');
  assert.equal(failures.failures, 1);
  assert.deepEqual(problems, [`log append failed; publisher held | ${diskFull.message}`, `publish refused: log append failed | client 'meter-1': ${readOnly.message}`]);

  failures.stop();
  assert.equal(failures.retried(diskFull), false, 'nothing is held while the node stops');
  assert.equal(failures.failed('meter-1', diskFull).retriable, true, 'the client may send it again');
});
