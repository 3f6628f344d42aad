import assert from 'node:assert/strict';
import { test } from 'node:test';
import { releaseBuffers } from '../../../bridge/kafka/release-buffers.js';

test('releaseBuffers frees whole Buffers at once: they read as empty and their memory leaves the process before any collection', () => {
  const buffers = Array.from({ length: 8 }, (_, i) => Buffer.alloc(1 << 20, i + 1));
  const before = process.memoryUsage().arrayBuffers;
  // The same Buffer twice, and a view of the same whole ArrayBuffer, are released once.
  assert.equal(releaseBuffers([...buffers, buffers[0]!, Buffer.from(buffers[1]!.buffer)]), 8 << 20);
  const after = process.memoryUsage().arrayBuffers;
  assert.ok(before - after >= 8 << 20, `external memory went from ${before} to ${after} bytes`);
  for (const b of buffers) assert.equal(b.length, 0);
});

test('releaseBuffers leaves alone what is not the whole of its ArrayBuffer: slices, and small Buffers of Node\'s shared pool', () => {
  const whole = Buffer.alloc(4096, 7);
  const slice = whole.subarray(16, 64);
  const pooled = Buffer.from('a small Buffer from the pool');
  const shared = Buffer.from(new SharedArrayBuffer(1024));
  assert.equal(releaseBuffers([slice, pooled, shared, Buffer.alloc(0)]), 0);
  assert.equal(whole.length, 4096);
  assert.equal(slice.length, 48);
  assert.equal(pooled.toString(), 'a small Buffer from the pool');
  assert.equal(shared.length, 1024);
});
