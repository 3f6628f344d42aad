import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeRetained, encodeRetained } from '../../../bridge/cluster/replicated-retained.js';

test('a retained packet survives its record: payload bytes, Buffer properties, undefined fields; a cleared one is a null value', () => {
  const packet = { cmd: 'publish', topic: 'a/b', payload: Buffer.from([0, 1, 255]), qos: 1, retain: true, messageId: undefined, properties: { correlationData: Buffer.from('id-7'), userProperties: { k: 'v' } } };
  const { topic, packet: back } = decodeRetained(encodeRetained('a/b', packet));
  assert.equal(topic, 'a/b');
  assert.deepEqual(back, packet);
  assert.ok('messageId' in back!);
  assert.deepEqual(decodeRetained(encodeRetained('a/b', { topic: 'a/b', payload: 'text' })).packet, { topic: 'a/b', payload: 'text' });
  assert.deepEqual(decodeRetained(encodeRetained('a/b', null)), { topic: 'a/b', packet: null });
});
