import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameSizeError } from '../../../../bridge/kafka/errors.js';
import { FrameDecoder, MIN_FRAME_BYTES } from '../../../../bridge/kafka/protocol/frame-decoder.js';

const frame = (body: Buffer): Buffer => {
  const prefix = Buffer.alloc(4);
  prefix.writeInt32BE(body.length);
  return Buffer.concat([prefix, body]);
};

test('follows frame boundaries however the stream is cut', () => {
  const bodies = [Buffer.alloc(10, 1), Buffer.alloc(300, 2), Buffer.alloc(70_000, 3), Buffer.alloc(11, 4)];
  const stream = Buffer.concat(bodies.map(frame));
  for (const step of [1, 3, 4, 5, 1000, stream.length]) {
    const decoder = new FrameDecoder(100_000);
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += step) out.push(...decoder.push(stream.subarray(i, i + step)));
    assert.deepEqual(out, bodies, `step ${step}`);
    assert.equal(decoder.bufferedBytes, 0);
  }
});

test('a length prefix over the limit, negative or smaller than a header is refused at once, holding nothing', () => {
  const decoder = new FrameDecoder(1024);
  // A 2 GiB prefix: refused on its four bytes, before any body arrives.
  assert.throws(() => decoder.push(Buffer.from([0x7f, 0xff, 0xff, 0xff])), (err: unknown) => err instanceof FrameSizeError && err.code === 'TRIB_KAFKA_FRAME_TOO_LARGE' && err.size === 0x7fffffff);
  assert.equal(decoder.bufferedBytes, 0);
  assert.throws(() => new FrameDecoder(1024).push(Buffer.from([0xff, 0xff, 0xff, 0xff])), FrameSizeError);
  assert.throws(() => new FrameDecoder(1024).push(frame(Buffer.alloc(MIN_FRAME_BYTES - 1))), FrameSizeError);
  assert.throws(() => new FrameDecoder(1024).push(frame(Buffer.alloc(1025)).subarray(0, 4)), FrameSizeError);
  assert.deepEqual(new FrameDecoder(1024).push(frame(Buffer.alloc(1024))), [Buffer.alloc(1024)]);
});
