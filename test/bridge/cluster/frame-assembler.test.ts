// Replication frames read out of a buffer the caller reuses (frame-assembler.ts): each frame comes
// back whole and of its own, wherever the reads split it, and bad sizes are refused at the prefix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameAssembler } from '../../../bridge/cluster/frame-assembler.js';

function framed(bodies: readonly Buffer[]): Buffer {
  return Buffer.concat(bodies.flatMap((body) => [Buffer.from([0, 0, 0, 0].map((_, i) => (body.length >>> (24 - 8 * i)) & 0xff)), body]));
}

test('frames split at every possible place, several in one read, come back whole in order, untouched when the read buffer is reused', () => {
  const bodies = [Buffer.from('first frame'), Buffer.alloc(5000, 7), Buffer.from('abcd'), Buffer.from('the last one')];
  const stream = framed(bodies);
  for (let cut = 1; cut < stream.length; cut += 97) {
    const assembler = new FrameAssembler(1 << 20, 4);
    const reused = Buffer.alloc(stream.length);
    const frames: Buffer[] = [];
    for (const [from, to] of [
      [0, cut],
      [cut, stream.length],
    ] as const) {
      stream.copy(reused, 0, from, to);
      frames.push(...assembler.push(reused.subarray(0, to - from)));
      reused.fill(0xee); // the next read overwrites what this one held
    }
    assert.deepEqual(frames, bodies, `split at byte ${cut}`);
    for (const frame of frames) assert.equal(frame.buffer.byteLength, frame.length, 'each frame its own ArrayBuffer (transferable)');
  }
  // One byte per read, through the size prefixes too.
  const assembler = new FrameAssembler(1 << 20, 4);
  const frames: Buffer[] = [];
  const one = Buffer.alloc(1);
  for (const byte of stream) {
    one[0] = byte;
    frames.push(...assembler.push(one));
  }
  assert.deepEqual(frames, bodies);
});

test('a frame size over the limit or under the smallest frame is refused at its prefix (FrameSizeError), before its body is held', () => {
  assert.throws(() => new FrameAssembler(1000, 4).push(Buffer.from([0, 0, 0x03, 0xe9])), { code: 'TRIB_KAFKA_FRAME_TOO_LARGE', size: 1001 });
  assert.throws(() => new FrameAssembler(1000, 4).push(Buffer.from([0, 0, 0, 3, 1, 2, 3])), { code: 'TRIB_KAFKA_FRAME_TOO_LARGE', size: 3 });
  assert.throws(() => new FrameAssembler(1000, 4).push(Buffer.from([0x80, 0, 0, 0])), { code: 'TRIB_KAFKA_FRAME_TOO_LARGE' });
  assert.deepEqual(new FrameAssembler(1000, 4).push(framed([Buffer.alloc(1000, 1)])), [Buffer.alloc(1000, 1)]);
});
