import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTime } from '../../../bridge/replay/time.js';

const NOW = Date.parse('2026-11-25T12:00:00Z');

test('ISO 8601, relative times, now and epoch times with their unit', () => {
  assert.equal(parseTime('2026-11-24T22:00:00Z', 'x', NOW), Date.parse('2026-11-24T22:00:00Z'));
  assert.equal(parseTime('2026-11-24T22:00:00.250+02:00', 'x', NOW), Date.parse('2026-11-24T20:00:00.250Z'));
  assert.equal(parseTime('2026-11-24T22:00', 'x', NOW), Date.parse('2026-11-24T22:00:00Z'), 'no zone = UTC');
  assert.equal(parseTime('2026-11-24', 'x', NOW), Date.parse('2026-11-24T00:00:00Z'));
  assert.equal(parseTime('-1h', 'x', NOW), NOW - 3_600_000);
  assert.equal(parseTime('-90s', 'x', NOW), NOW - 90_000);
  assert.equal(parseTime('-2d', 'x', NOW), NOW - 2 * 86_400_000);
  assert.equal(parseTime('-1.5m', 'x', NOW), NOW - 90_000);
  assert.equal(parseTime('now', 'x', NOW), NOW);
  assert.equal(parseTime('1700000000000ms', 'x', NOW), 1_700_000_000_000);
  assert.equal(parseTime('1700000000s', 'x', NOW), 1_700_000_000_000);
  assert.equal(parseTime('2024-02-29', 'x', NOW), Date.parse('2024-02-29T00:00:00Z'), 'a leap day');
});

test('anything else is a usage error naming the flag and the accepted forms', () => {
  for (const bad of ['yesterday', '-1y', '1h', '2026-13-45', '2026-11-24T25:00:00Z', '', '2026-02-30', '2026-02-29T10:00:00Z', '2026-04-31', '2026-00-10']) {
    assert.throws(() => parseTime(bad, '--from-time', NOW), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TRIB_USAGE');
      assert.match(err.message, /^--from-time: '.*' is not a time; use ISO 8601/);
      return true;
    }, bad);
  }
});

test('a bare number is refused: epoch seconds would silently mean 1970', () => {
  for (const bare of ['1700000000', '1700000000000', '42']) {
    assert.throws(() => parseTime(bare, '--from-time', NOW), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TRIB_USAGE');
      assert.match(err.message, new RegExp(`^--from-time: '${bare}' has no unit; write ${bare}s for epoch seconds or ${bare}ms for epoch milliseconds$`));
      return true;
    });
  }
});
