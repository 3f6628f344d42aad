// Where a replay has got to in each partition: the next offset after what the output has fully
// taken. Feeds the progress bar (records passed, filtered ones included) and a named reader's
// commits, which must never run ahead of what was delivered.
import type { PartitionRange } from './range.js';

export class Positions {
  private readonly next = new Map<number, number>();
  private readonly starts = new Map<number, number>();
  /** Records the ranges cover in total. */
  readonly total: number;
  private dirty = false;

  constructor(readonly ranges: readonly PartitionRange[]) {
    for (const r of ranges) {
      this.next.set(r.partition, r.from);
      this.starts.set(r.partition, r.from);
    }
    this.total = ranges.reduce((sum, r) => sum + (r.to - r.from), 0);
  }

  advance(partition: number, nextOffset: number): void {
    if (nextOffset > (this.next.get(partition) ?? -1)) {
      this.next.set(partition, nextOffset);
      this.dirty = true;
    }
  }

  /** The whole range was delivered: every partition is at its end (past filtered records too). */
  complete(): void {
    for (const r of this.ranges) this.advance(r.partition, r.to);
  }

  /** Offsets passed so far, over all partitions. */
  get done(): number {
    let done = 0;
    for (const [partition, next] of this.next) done += next - this.starts.get(partition)!;
    return done;
  }

  /** Positions changed since the last call (null if none): what a commit should store. */
  takeChanges(): Array<{ partition: number; nextOffset: number }> | null {
    if (!this.dirty) return null;
    this.dirty = false;
    return [...this.next].map(([partition, nextOffset]) => ({ partition, nextOffset }));
  }
}

/**
 * A destination took part of a run of records: the first `delivered` of them are delivered
 * (acknowledged), the rest not. Thrown by the destination; the replay moves the position past the
 * delivered ones only, then fails with `cause`.
 */
export class PartialDelivery extends Error {
  constructor(
    readonly delivered: number,
    override readonly cause: Error,
  ) {
    super(cause.message, { cause });
  }
}
