// Replication-log entries as they cross between the main thread and the writer thread: every
// batch in one block of bytes, and five numbers per entry, so that a message costs the same to
// clone (and the block is transferred, not copied) whether it holds one entry or thousands. An
// array of objects each with its own view would be cloned object by object.
//
// index, per entry: seq, partition id, leader epoch, batch offset in `bytes`, batch length. A
// packed block holds the batches one after another; a block made of views (blockOfViews) is the
// buffer they view, given up by its owner (a follower's fetch answer), with the bytes around them.

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

const FIELDS = 5;

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
    index[i * FIELDS] = e.seq;
    index[i * FIELDS + 1] = e.partitionId;
    index[i * FIELDS + 2] = e.epoch ?? 0;
    index[i * FIELDS + 3] = at;
    index[i * FIELDS + 4] = e.batch.byteLength;
    at += e.batch.byteLength;
  }
  return { bytes, index };
}

/**
 * The entries as a block without copying their batches, when every batch is a view of `buffer`,
 * which the caller gives up (it is transferred: the views read as empty afterwards); null when
 * some batch is not (then packEntries).
 */
export function blockOfViews(entries: readonly PackedEntry[], buffer: ArrayBuffer): EntryBlock | null {
  const index = new Float64Array(entries.length * FIELDS);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.batch.buffer !== buffer) return null;
    index[i * FIELDS] = e.seq;
    index[i * FIELDS + 1] = e.partitionId;
    index[i * FIELDS + 2] = e.epoch ?? 0;
    index[i * FIELDS + 3] = e.batch.byteOffset;
    index[i * FIELDS + 4] = e.batch.byteLength;
  }
  return { bytes: new Uint8Array(buffer), index };
}

/** The entries of a block, each batch a Buffer view of the block (no copy). */
export function unpackEntries(block: EntryBlock): Array<{ seq: number; partitionId: number; epoch: number; batch: Buffer }> {
  const { bytes, index } = block;
  const entries: Array<{ seq: number; partitionId: number; epoch: number; batch: Buffer }> = [];
  for (let i = 0; i < index.length; i += FIELDS) {
    entries.push({ seq: index[i]!, partitionId: index[i + 1]!, epoch: index[i + 2]!, batch: Buffer.from(bytes.buffer, bytes.byteOffset + index[i + 3]!, index[i + 4]!) });
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
