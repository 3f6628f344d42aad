// Reads the resolved ranges out of the log in bounded chunks (Log.read caps records and bytes), so
// that neither a huge range nor a slow consumer ever makes the reader hold more than one chunk.
// With several partitions, chunks are merged by timestamp (ties: lower partition first), so that a
// time-paced replay into MQTT plays the partitions side by side as they were recorded.
import type { CorruptBatchError } from '../../broker/errors.js';
import type { Log } from '../../broker/log/log.js';
import type { LogRecord } from '../../broker/log/record-batch.js';
import type { PartitionRange } from './range.js';

export interface RecordChunk {
  partition: number;
  records: LogRecord[];
  /** Where this partition continues after the chunk (past filtered-out records too). */
  nextOffset: number;
}

export interface ChunkOptions {
  /** Most records per chunk (default 2000). */
  maxRecords?: number;
  /** Soft cap on payload bytes per chunk (default 1 MiB). */
  maxBytes?: number;
  /** Only records whose key equals these bytes. */
  key?: Buffer | null;
}

interface Cursor {
  range: PartitionRange;
  next: number;
  buffered: LogRecord[];
  index: number;
}

export class LogSource {
  private readonly cursors: Cursor[];
  private readonly maxRecords: number;
  private readonly maxBytes: number;
  private readonly key: Buffer | null;

  constructor(
    private readonly log: Log,
    private readonly topic: string,
    ranges: readonly PartitionRange[],
    options: ChunkOptions = {},
  ) {
    this.cursors = ranges.filter((r) => r.to > r.from).map((range) => ({ range, next: range.from, buffered: [], index: 0 }));
    this.maxRecords = options.maxRecords ?? 2000;
    this.maxBytes = options.maxBytes ?? 1024 * 1024;
    this.key = options.key ?? null;
  }

  /**
   * The next chunk, or null at the end of every range. With a key filter a chunk can be empty:
   * one call scans at most about maxRecords records, so a rare key over a long range is many
   * short steps (the caller yields between them, sees a client that left, commits positions)
   * instead of one long synchronous scan on the node's event loop.
   */
  next(): RecordChunk | null {
    let scanned = 0;
    for (;;) {
      const chunk = this.cursors.length === 1 ? this.nextOfOne(this.cursors[0]!) : this.nextMerged();
      if (chunk === null) return null;
      scanned += chunk.records.length;
      if (this.key !== null) chunk.records = chunk.records.filter((r) => r.key !== null && r.key.equals(this.key!));
      if (chunk.records.length > 0 || scanned >= this.maxRecords) return chunk;
    }
  }

  /**
   * Passes over the corrupt batch `err` names (thrown by next()): its partition goes on after the
   * batch's range. The other partitions keep what they had read.
   */
  skip(err: CorruptBatchError): void {
    const cursor = this.cursors.find((c) => c.range.partition === err.partition);
    if (cursor === undefined) return;
    cursor.buffered = [];
    cursor.index = 0;
    cursor.next = Math.min(Math.max(err.lastOffset + 1, cursor.next + 1), cursor.range.to);
  }

  private nextOfOne(cursor: Cursor): RecordChunk | null {
    if (cursor.next >= cursor.range.to) return null;
    const records = this.read(cursor);
    return { partition: cursor.range.partition, records, nextOffset: cursor.next };
  }

  /** Takes records from partition heads by timestamp until one partition's head changes chunk. */
  private nextMerged(): RecordChunk | null {
    for (const c of this.cursors) {
      if (c.index >= c.buffered.length && c.next < c.range.to) {
        c.buffered = this.read(c);
        c.index = 0;
      }
    }
    // Order: (timestamp, partition). `best` is the smallest head; `bound` the smallest other one.
    let best: Cursor | null = null;
    let bound: Cursor | null = null;
    for (const c of this.cursors) {
      if (c.index >= c.buffered.length) continue;
      if (best === null || before(c, best)) {
        bound = best;
        best = c;
      } else if (bound === null || before(c, bound)) {
        bound = c;
      }
    }
    if (best === null) return null;
    // Emit the run of the best partition that stays ahead of every other head.
    const start = best.index;
    let end = start + 1;
    if (bound === null) {
      end = best.buffered.length;
    } else {
      const boundTs = bound.buffered[bound.index]!.timestamp;
      const lowerPartition = best.range.partition < bound.range.partition;
      for (; end < best.buffered.length; end++) {
        const ts = best.buffered[end]!.timestamp;
        if (ts > boundTs || (ts === boundTs && !lowerPartition)) break;
      }
    }
    best.index = end;
    const records = best.buffered.slice(start, end);
    const nextOffset = end < best.buffered.length ? best.buffered[end]!.offset : best.next;
    return { partition: best.range.partition, records, nextOffset };
  }

  private read(cursor: Cursor): LogRecord[] {
    const { range } = cursor;
    const result = this.log.read(this.topic, range.partition, cursor.next, { maxRecords: Math.min(this.maxRecords, range.to - cursor.next), maxBytes: this.maxBytes });
    const records = result.records;
    if (records.length === 0) {
      cursor.next = range.to; // cannot happen below the log end; never loop on it
      return records;
    }
    // Log.read never returns past the end it was asked for in records, but the range may end
    // inside the chunk when the chunk cap was larger.
    let n = records.length;
    while (n > 0 && records[n - 1]!.offset >= range.to) n--;
    cursor.next = n === records.length ? result.nextOffset : range.to;
    return n === records.length ? records : records.slice(0, n);
  }
}

/** Whether a's head record comes before b's: by timestamp, then partition. */
function before(a: Cursor, b: Cursor): boolean {
  const ta = a.buffered[a.index]!.timestamp;
  const tb = b.buffered[b.index]!.timestamp;
  return ta < tb || (ta === tb && a.range.partition < b.range.partition);
}
