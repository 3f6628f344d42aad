// Reader commits through the node's HTTP API, at most one per reader per interval. Each commit is
// an fsync of cursors.db (synchronous=FULL) on the node's main thread; a client that POSTs its
// positions after every line would otherwise stall MQTT and the log writer with a sync per call.
// A POST that comes too soon waits for the reader's next slot and shares that one write with any
// other POST of the reader meanwhile (later positions win); each answers once its data is durable.
import { setTimeout as sleep } from 'node:timers/promises';

export interface PositionEntry {
  topic: string;
  partition: number;
  nextOffset: number;
}

interface Pending {
  entries: Map<string, PositionEntry>;
  done: Promise<void>;
}

export class CoalescedCommits {
  private readonly pending = new Map<string, Pending>();
  private readonly lastAt = new Map<string, number>();

  constructor(
    private readonly write: (reader: string, entries: PositionEntry[]) => void,
    private readonly intervalMs: number,
  ) {}

  /** Resolves once `entries` (or later positions of the same partitions) are durable. */
  commit(reader: string, entries: readonly PositionEntry[]): Promise<void> {
    const queued = this.pending.get(reader);
    if (queued !== undefined) {
      for (const e of entries) queued.entries.set(`${e.topic}\0${e.partition}`, e);
      return queued.done;
    }
    const wait = (this.lastAt.get(reader) ?? -Infinity) + this.intervalMs - Date.now();
    if (wait <= 0) {
      this.lastAt.set(reader, Date.now());
      this.write(reader, [...entries]);
      return Promise.resolve();
    }
    const batch: Pending = { entries: new Map(entries.map((e) => [`${e.topic}\0${e.partition}`, e])), done: Promise.resolve() };
    batch.done = sleep(wait).then(() => {
      this.pending.delete(reader);
      this.lastAt.set(reader, Date.now());
      this.write(reader, [...batch.entries.values()]);
    });
    this.pending.set(reader, batch);
    return batch.done;
  }

  /** Drops what waits for `reader` (it is being deleted); its waiting POSTs still answer. */
  forget(reader: string): void {
    const queued = this.pending.get(reader);
    if (queued !== undefined) queued.entries.clear();
    this.lastAt.delete(reader);
  }
}
