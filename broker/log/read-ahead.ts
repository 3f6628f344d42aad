// Batches read before they are asked for: a sequential reader (a Kafka consumer, which has one
// Fetch in flight per partition and asks for the next range only once it has processed the last)
// otherwise waits for the SQLite read of each range after asking. Log.readAhead reads the next
// range in the idle moment after an answer went out; Partition.readBatches takes it when the next
// call asks for exactly that range. What is kept was read and CRC-checked like any read, moments
// before: stored batches never change in place (an append adds rows, retention deletes rows below
// the log start, truncation deletes the tail), so a kept read is what a fresh one would return as
// long as none of its batches was deleted and the read's end has not moved in a way that would
// let a fresh read return more. Partition checks both (take) and drops its slot when its log end
// goes back (truncation).
//
// Bounded: one slot per partition, MAX_BYTES in all (the oldest slots go first), and a slot not
// taken within TTL_MS is dropped, so an idle consumer holds nothing.

/** A stored batch as read (partition.ts's RawBatch; declared here, as partition.ts imports this file). */
export interface KeptBatch {
  baseOffset: number;
  lastOffset: number;
  bytes: Buffer;
}

/** Where the read stopped at most (partition.ts's Isolation). */
type ReadBound = 'highWatermark' | 'logEnd';

/** What all partitions' read-ahead slots may hold at once. */
export const READ_AHEAD_MAX_BYTES = 16 * 1024 * 1024;
/** A slot not taken by then is dropped (a consumer that stopped, or moved elsewhere). */
const TTL_MS = 2_000;

export interface ReadAheadSlot {
  from: number;
  maxBytes: number;
  isolation: ReadBound;
  /** The end (high watermark or log end) the read stopped at or before. */
  end: number;
  /** The read stopped because the next batch would pass maxBytes: a later end would not add to it. */
  full: boolean;
  batches: KeptBatch[];
  bytes: number;
}

export class ReadAhead {
  /** By partition id, oldest first. */
  private readonly slots = new Map<number, { slot: ReadAheadSlot; timer: NodeJS.Timeout }>();
  private bytes = 0;

  constructor(private readonly maxBytes = READ_AHEAD_MAX_BYTES) {}

  /** Keeps `slot` for the partition (replacing its last one); dropped if it cannot fit in the bound. */
  keep(partitionId: number, slot: ReadAheadSlot): void {
    this.forget(partitionId);
    if (slot.bytes > this.maxBytes) return;
    for (const [id] of this.slots) {
      if (this.bytes + slot.bytes <= this.maxBytes) break;
      this.forget(id);
    }
    const timer = setTimeout(() => this.forget(partitionId), TTL_MS).unref();
    this.slots.set(partitionId, { slot, timer });
    this.bytes += slot.bytes;
  }

  /**
   * The kept read of exactly (from, maxBytes, isolation), if it still is what a fresh read would
   * return with the partition's log start at `logStart` and its end at `end`; the slot goes either way.
   */
  take(partitionId: number, from: number, maxBytes: number, isolation: ReadBound, logStart: number, end: number): KeptBatch[] | null {
    const kept = this.slots.get(partitionId)?.slot;
    if (kept === undefined) return null;
    this.forget(partitionId);
    if (kept.from !== from || kept.maxBytes !== maxBytes || kept.isolation !== isolation) return null;
    if (from < logStart) return null; // retention deleted (some of) it
    if (kept.full ? end < kept.end : end !== kept.end) return null; // a fresh read would end elsewhere
    return kept.batches;
  }

  forget(partitionId: number): void {
    const held = this.slots.get(partitionId);
    if (held === undefined) return;
    clearTimeout(held.timer);
    this.slots.delete(partitionId);
    this.bytes -= held.slot.bytes;
  }

  /** Bytes held now (tests). */
  get heldBytes(): number {
    return this.bytes;
  }
}
