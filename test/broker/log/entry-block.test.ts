// Entries packed for the writer thread (entry-block.ts): one block and an index, unpacked as
// they went in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockOfViews, blockTransfers, packEntries, unpackEntries } from '../../../broker/log/entry-block.js';

test('entries packed into one block come back in order with their positions, partitions, epochs and bytes; the block owns its memory', () => {
  // Views into a larger buffer, as a fetch answer's batches are.
  const frame = Buffer.from('xxAAAbbCCCCzz');
  const entries = [
    { seq: 7, partitionId: 2, epoch: 3, batch: frame.subarray(2, 5) },
    { seq: 8, partitionId: 0, batch: frame.subarray(5, 7) },
    { seq: 2 ** 40, partitionId: 1, epoch: 4, batch: frame.subarray(7, 11) },
  ];
  const block = packEntries(entries);
  assert.equal(block.bytes.byteLength, 9);
  assert.equal(block.bytes.buffer.byteLength, 9, 'its own buffer, to transfer');
  assert.deepEqual(blockTransfers(block), [block.bytes.buffer], 'the bytes are transferred, the small index copied');
  const back = unpackEntries(block);
  assert.deepEqual(
    back.map((e) => [e.seq, e.partitionId, e.epoch, e.batch.toString()]),
    [
      [7, 2, 3, 'AAA'],
      [8, 0, 0, 'bb'],
      [2 ** 40, 1, 4, 'CCCC'],
    ],
  );
  frame.fill(0);
  assert.equal(back[2]!.batch.toString(), 'CCCC', 'copied: the source may be reused');
  assert.deepEqual(unpackEntries(packEntries([])), []);
});

test('entries that view one buffer their owner gives up become a block of that buffer, not a copy; a batch viewing another buffer makes it refuse', () => {
  const frame = Buffer.allocUnsafeSlow(13);
  frame.write('xxAAAbbCCCCzz');
  const entries = [
    { seq: 7, partitionId: 2, epoch: 3, batch: frame.subarray(2, 5) },
    { seq: 8, partitionId: 0, batch: frame.subarray(5, 7) },
    { seq: 9, partitionId: 1, epoch: 4, batch: frame.subarray(7, 11) },
  ];
  const block = blockOfViews(entries, frame.buffer as ArrayBuffer)!;
  assert.equal(block.bytes.buffer, frame.buffer, 'the given buffer itself');
  assert.deepEqual(
    unpackEntries(block).map((e) => [e.seq, e.partitionId, e.epoch, e.batch.toString()]),
    [
      [7, 2, 3, 'AAA'],
      [8, 0, 0, 'bb'],
      [9, 1, 4, 'CCCC'],
    ],
  );
  assert.equal(blockOfViews([...entries, { seq: 10, partitionId: 0, batch: Buffer.from('other') }], frame.buffer as ArrayBuffer), null);
});
