// Replication-log entries as they cross between the main thread and the writer thread: every
// batch in one block of bytes, and four numbers per entry, so that a message costs the same to
// clone (and the block is transferred, not copied) whether it holds one entry or thousands. An
// array of objects each with its own view would be cloned object by object.
//
// index, per entry: seq, partition id, leader epoch, batch length; the batches follow each other
// in `bytes` in that order.

export interface PackedEntry {
  seq: number;
  partitionId: number;
  /** Absent: 0 (a follower's entries carry their epochs in their batches). */
  epoch?: number;
  batch: Uint8Array;
}

export interface EntryBlock {
  bytes: Uint8Array;
  index: Float64Array;
}

const FIELDS = 4;

/** Copies the entries' batches into one new block (its ArrayBuffer its own, to transfer). */
export function packEntries(entries: readonly PackedEntry[]): EntryBlock {
  let total = 0;
  for (const e of entries) total += e.batch.byteLength;
  // Not zero-filled (every byte is written below), and never from Node's shared pool (transferred).
  const bytes = Buffer.allocUnsafeSlow(total);
  const index = new Float64Array(entries.length * FIELDS);
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    bytes.set(e.batch, at);
    at += e.batch.byteLength;
    index[i * FIELDS] = e.seq;
    index[i * FIELDS + 1] = e.partitionId;
    index[i * FIELDS + 2] = e.epoch ?? 0;
    index[i * FIELDS + 3] = e.batch.byteLength;
  }
  return { bytes, index };
}

/** The entries of a block, each batch a Buffer view of the block (no copy). */
export function unpackEntries(block: EntryBlock): Array<{ seq: number; partitionId: number; epoch: number; batch: Buffer }> {
  const { bytes, index } = block;
  const entries: Array<{ seq: number; partitionId: number; epoch: number; batch: Buffer }> = [];
  let at = bytes.byteOffset;
  for (let i = 0; i < index.length; i += FIELDS) {
    const length = index[i + 3]!;
    entries.push({ seq: index[i]!, partitionId: index[i + 1]!, epoch: index[i + 2]!, batch: Buffer.from(bytes.buffer, at, length) });
    at += length;
  }
  return entries;
}

/**
 * What to transfer with a block: its bytes. The index (32 bytes an entry) is cheaper to copy than
 * to transfer: a transferred buffer costs the message more than its copy does at that size.
 */
export function blockTransfers(block: EntryBlock): ArrayBuffer[] {
  return [block.bytes.buffer as ArrayBuffer];
}
