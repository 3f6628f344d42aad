// Who waits for a partition's high watermark to pass an offset (Partition.waitFor): the offset
// listeners a forwarder, a Kafka long-poll Fetch or a replication follower wait with.

/** setTimeout's longest delay (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Waiter {
  offset: number;
  resolve: (passed: boolean) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * Who waits for the high watermark to pass which offset, sorted by offset: a move of the high
 * watermark wakes a prefix, so many waiters on one partition cost a binary search to add and
 * nothing to skip. Each waiter has its own deadline timer; nothing polls.
 */
export class OffsetWaiters {
  private readonly list: Waiter[] = [];

  add(offset: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted === true) return Promise.resolve(false);
    return new Promise<boolean>((resolve, reject) => {
      const waiter: Waiter = {
        offset,
        resolve,
        reject,
        signal,
        timer: setTimeout(() => this.settle(waiter, false), Math.min(Math.max(0, timeoutMs), MAX_TIMER_MS)),
        onAbort: () => this.settle(waiter, false),
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.list.splice(this.insertionPoint(offset), 0, waiter);
    });
  }

  /** Resolves (true) every waiter for an offset below `highWatermark`. */
  wake(highWatermark: number): void {
    let n = 0;
    while (n < this.list.length && this.list[n]!.offset < highWatermark) n++;
    if (n === 0) return;
    for (const waiter of this.list.splice(0, n)) {
      this.release(waiter);
      waiter.resolve(true);
    }
  }

  fail(err: Error): void {
    for (const waiter of this.list.splice(0)) {
      this.release(waiter);
      waiter.reject(err);
    }
  }

  private settle(waiter: Waiter, passed: boolean): void {
    let at = this.firstAtOrAbove(waiter.offset);
    while (at < this.list.length && this.list[at] !== waiter && this.list[at]!.offset === waiter.offset) at++;
    if (this.list[at] !== waiter) return;
    this.list.splice(at, 1);
    this.release(waiter);
    waiter.resolve(passed);
  }

  private release(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
  }

  /** After every waiter for the same or a lower offset (waiters wake in the order they came). */
  private insertionPoint(offset: number): number {
    let lo = this.firstAtOrAbove(offset);
    while (lo < this.list.length && this.list[lo]!.offset === offset) lo++;
    return lo;
  }

  /** The index of the first waiter for `offset` or a higher one (binary search). */
  private firstAtOrAbove(offset: number): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.list[mid]!.offset < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
