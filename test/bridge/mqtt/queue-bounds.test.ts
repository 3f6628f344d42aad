// The queue accounting alone; the same bounds on a real session store are tested in
// sqlite-persistence.test.ts and through the front end in front-end-sessions.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../../bridge/logger.js';
import { QueueSizes } from '../../../bridge/mqtt/queue-bounds.js';

function logged(): { logger: ReturnType<typeof createLogger>; messages: string[] } {
  const messages: string[] = [];
  return { logger: createLogger('info', { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) }), messages };
}

test('whichever bound is reached first refuses; removing messages makes room', () => {
  const full: string[] = [];
  const sizes = new QueueSizes({ maxMessages: 3, maxBytes: 250 }, undefined, (id, reason) => full.push(`${id}:${reason}`));
  for (let i = 0; i < 2; i++) {
    assert.equal(sizes.admit('a', 100), true);
    sizes.resize('a', 1, 100);
  }
  assert.equal(sizes.admit('a', 100), false, '300 bytes > 250');
  assert.equal(sizes.admit('a', 50), true);
  sizes.resize('a', 1, 50);
  assert.equal(sizes.admit('a', 1), false, 'a fourth message > 3');
  assert.deepEqual(full, ['a:bytes', 'a:messages']);
  sizes.resize('a', -1, -100);
  assert.equal(sizes.admit('a', 100), true);
  assert.equal(sizes.messages('a'), 2);
  assert.equal(sizes.messages(), 2);
});

test('an online client is not bounded; what was refused while offline is logged once, then reported on return', () => {
  const { logger, messages } = logged();
  const sizes = new QueueSizes({ maxMessages: 1, maxBytes: null }, logger, undefined);
  sizes.load('a', { messages: 1, bytes: 10 });
  for (let i = 0; i < 5; i++) assert.equal(sizes.admit('a', 10), false);
  assert.equal(messages.filter((m) => m.includes('queue full')).length, 1);
  sizes.online('a');
  assert.equal(messages.filter((m) => m.includes('back online')).length, 1);
  assert.equal(sizes.admit('a', 10), true);
  sizes.offline('a');
  assert.equal(sizes.admit('a', 10), false);
  assert.equal(messages.filter((m) => m.includes('queue full')).length, 2, 'a new offline period warns again');
});

test('no bounds: everything fits', () => {
  const sizes = new QueueSizes(undefined, undefined, undefined);
  assert.equal(sizes.admit('a', Number.MAX_SAFE_INTEGER), true);
});
