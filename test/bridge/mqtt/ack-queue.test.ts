// A connection's acknowledgements: in arrival order whatever order the appends finish in
// [MQTT-4.6.0-2], and those one append makes ready leave in one write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AckQueue, releasingTogether } from '../../../bridge/mqtt/ack-queue.js';

const ids = (bytes: Buffer): number[] => Array.from({ length: bytes.length / 4 }, (_, i) => bytes.readUInt16BE(i * 4 + 2));

test('PUBACKs leave in arrival order: a turn ready early waits for the ones before it', () => {
  const writes: Buffer[] = [];
  const queue = new AckQueue((bytes) => writes.push(bytes));
  const [a, b, c] = [queue.puback(1), queue.puback(2), queue.puback(3)];
  c.done();
  b.done();
  assert.equal(writes.length, 0);
  a.done();
  assert.deepEqual(writes.map(ids), [[1, 2, 3]]);
});

test('turns made ready inside releasingTogether leave in one write per queue, at its end, in order', () => {
  const writes: Array<[string, number[]]> = [];
  const one = new AckQueue((bytes) => writes.push(['one', ids(bytes)]));
  const two = new AckQueue((bytes) => writes.push(['two', ids(bytes)]));
  const turns = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? one : two).puback(i + 1));
  const completions: number[] = [];
  const completion = one.take();
  releasingTogether(() => {
    for (const turn of turns) turn.done();
    completion(() => completions.push(writes.length));
    assert.equal(writes.length, 0, 'nothing written while the append settles');
  });
  assert.deepEqual(writes, [
    ['one', turns.filter((_, i) => i % 2 === 0).map((t) => t.messageId)],
    ['two', turns.filter((_, i) => i % 2 === 1).map((t) => t.messageId)],
  ]);
  assert.deepEqual(completions, [1], "the completion ran in its turn, after queue one's PUBACKs");
  // Outside it, each ready turn is released at once.
  one.puback(500).done();
  assert.deepEqual(writes.at(-1), ['one', [500]]);
});

test('a PUBACK with a failure reason code is 5 bytes, one without 4, in one buffer of exactly their size [MQTT-3.4.2.1]', () => {
  const writes: Buffer[] = [];
  const queue = new AckQueue((bytes) => writes.push(bytes));
  const [a, b, c] = [queue.puback(1), queue.puback(2), queue.puback(3)];
  releasingTogether(() => {
    a.done();
    b.refuse(0x97);
    c.done();
  });
  assert.deepEqual(writes, [Buffer.from([0x40, 2, 0, 1, 0x40, 3, 0, 2, 0x97, 0x40, 2, 0, 3])]);
});
