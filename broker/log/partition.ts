// One partition of a topic: an append-only sequence of records with dense offsets from 0.
// Holds the partition's offsets as the writer last reported them and answers reads. It has two
// ends: the log end offset (the offset the next record gets) and the high watermark (records
// below it are committed; readers see nothing above it). The log advances the high watermark
// (Log.commit); the partition wakes the offset waiters when it moves.
import { CorruptBatchError, OffsetOutOfRangeError } from '../errors.js';
import type { BatchReader, StoredBatchRow } from './batch-reader.js';
import { BatchFormatError, decodeBatch, readBatchHeader, type DecodedBatch, type LogRecord } from './record-batch.js';
import { DAMAGED, firstBaseAfterDamage, trySeek } from './damage-probe.js';
import { isSqliteCorruption } from './sqlite-errors.js';
import { OffsetWaiters } from './offset-waiters.js';
import { ReadAhead } from './read-ahead.js';
import type { PartitionState } from './writer-protocol.js';

export interface ReadOptions {
  /** Most records to return (default 1000). */
  maxRecords?: number;
  /** Soft cap on key+value+header bytes returned; at least one record is always returned. */
  maxBytes?: number;
  /**
   * Reach maxRecords only at the end of a stored batch (maxBytes still cuts anywhere). A reader
   * that reads on from nextOffset in small steps then decodes each stored batch once instead of
   * once per step it spans.
   */
  wholeBatches?: boolean;
  /** How far a read may go (as Kafka's FetchIsolation). Default 'highWatermark'. */
  isolation?: Isolation;
}

/**
 * The end a read stops at: 'highWatermark' (committed records: every reader outside broker/) or
 * 'logEnd' (every stored record: the log's own upkeep and, later, a leader serving followers).
 */
export type Isolation = 'highWatermark' | 'logEnd';

export interface ReadResult {
  records: LogRecord[];
  /** The offset to read from next. */
  nextOffset: number;
  logStartOffset: number;
  logEndOffset: number;
  highWatermark: number;
}

export interface RawBatch {
  baseOffset: number;
  lastOffset: number;
  /** The stored RecordBatch v2 bytes, CRC verified. */
  bytes: Buffer;
}

export const DEFAULT_MAX_RECORDS = 1000;
export const DEFAULT_MAX_BYTES = 1024 * 1024;

/** Told of each corrupt batch a read meets (the log counts them for metrics and the overview). */
export type CorruptionListener = (err: CorruptBatchError) => void;

export class Partition {
  private hw: number;
  /**
   * The furthest end a commit named (advanceHighWatermark). It can be past the log end this object
   * knows: with replication a follower may fetch, store and report a batch the writer has stored
   * before its result reached this thread; the high watermark follows when the result arrives.
   */
  private committedEnd = 0;
  private readonly waiters = new OffsetWaiters();

  constructor(
    private state: PartitionState,
    private readonly reader: BatchReader,
    private readonly onCorrupt: CorruptionListener = () => undefined,
    committedOnOpen = true,
    private readonly ahead: ReadAhead = new ReadAhead(),
  ) {
    // What the log holds when it is opened was committed before (single node: durable = committed).
    // Not with replication: a replica's tail may never have been committed, and may yet be
    // truncated; the high watermark starts at the log start until the commit position is known.
    this.hw = committedOnOpen ? state.logEndOffset : state.logStartOffset;
  }

  get id(): number {
    return this.state.id;
  }
  get topic(): string {
    return this.state.topic;
  }
  get partition(): number {
    return this.state.partition;
  }
  /** The first offset still stored. */
  get logStartOffset(): number {
    return this.state.logStartOffset;
  }
  /** The offset the next record will get. */
  get logEndOffset(): number {
    return this.state.logEndOffset;
  }
  /** Records below this offset are committed; reads (by default) and offset waiters see up to it. */
  get highWatermark(): number {
    return this.hw;
  }
  /** Stored bytes (the sum of batch sizes). */
  get bytes(): number {
    return this.state.bytes;
  }

  /** Applies a state the writer reported (replies arrive in commit order, so the last one wins). */
  update(state: PartitionState): void {
    // The tail was truncated: rows past the new end are gone, and the offsets may be stored again;
    // a commit named above the new end is taken back (only ever uncommitted offsets with replication).
    if (state.logEndOffset < this.state.logEndOffset) {
      this.ahead.forget(state.id);
      this.committedEnd = Math.min(this.committedEnd, state.logEndOffset);
    }
    this.state = state;
    // The high watermark stays within the stored offsets (a partition given a new start offset
    // moves it up) and reaches a commit named before these offsets were known here.
    this.hw = Math.min(Math.max(this.hw, this.committedEnd, state.logStartOffset), state.logEndOffset);
    this.waiters.wake(this.hw);
  }

  /**
   * The one place the high watermark moves: up to `offset` (never past the log end, never back).
   * Wakes the waiters for offsets below it. Called by the log's commit policy (Log.commit).
   */
  advanceHighWatermark(offset: number): void {
    this.committedEnd = Math.max(this.committedEnd, offset);
    const next = Math.min(offset, this.logEndOffset);
    if (next <= this.hw) return;
    this.hw = next;
    this.waiters.wake(next);
  }

  /**
   * Resolves true once the high watermark passes `offset` (a record at `offset` is readable),
   * false at the deadline or when `signal` aborts. At once when it already has.
   */
  waitFor(offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.hw > offset) return Promise.resolve(true);
    return this.waiters.add(offset, timeoutMs, signal);
  }

  /** Rejects every offset waiter with `err` (the log is closing). */
  failWaiters(err: Error): void {
    this.waiters.fail(err);
  }

  /**
   * Reads records from `from`. Throws OffsetOutOfRangeError outside [logStart, logEnd] and
   * CorruptBatchError when the first batch to return fails its checks; when a later batch does,
   * the good records before it are returned and the next read (starting at it) throws.
   */
  read(from: number, options: ReadOptions = {}): ReadResult {
    this.checkOffset(from);
    const maxRecords = options.maxRecords ?? DEFAULT_MAX_RECORDS;
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const end = this.endFor(options.isolation);
    const highWatermark = this.hw;
    const records: LogRecord[] = [];
    let bytes = 0;
    let nextOffset = from;
    if (from < end) {
      try {
        const countWithin = options.wholeBatches !== true;
        scan: for (const row of this.reader.batchesFrom(this.id, from, end)) {
          if (records.length >= maxRecords) break;
          // Offsets are dense: a batch starting past the next offset means rows went missing.
          if (row.baseOffset > nextOffset) throw this.missing(nextOffset, row.baseOffset);
          const batch = this.decode(row);
          for (const record of batch.records) {
            if (record.offset < nextOffset) continue;
            if (record.offset >= end) break scan;
            const size = recordSize(record);
            if ((countWithin && records.length >= maxRecords) || (records.length > 0 && bytes + size > maxBytes)) break scan;
            records.push(record);
            bytes += size;
            nextOffset = record.offset + 1;
          }
        }
      } catch (err) {
        if (records.length === 0) throw this.asCorruption(err, nextOffset);
      }
    }
    return { records, nextOffset, logStartOffset: this.logStartOffset, logEndOffset: this.logEndOffset, highWatermark };
  }

  /**
   * Whole stored batches from the one holding `from`, CRC verified: what a follower would fetch.
   * Like read(): throws CorruptBatchError when the first batch is bad; when a later one is, the
   * good batches before it are returned and the next call (starting at it) throws. Only batches
   * wholly below the isolation bound are returned.
   */
  readBatches(from: number, maxBytes = DEFAULT_MAX_BYTES, isolation: Isolation = 'highWatermark'): RawBatch[] {
    this.checkOffset(from);
    const end = this.endFor(isolation);
    const ahead = this.ahead.take(this.id, from, maxBytes, isolation, this.logStartOffset, end);
    if (ahead !== null) return ahead;
    return this.readStored(from, maxBytes, end).batches;
  }

  /**
   * Reads now what readBatches(from, maxBytes, isolation) would return, and keeps it for that call
   * (read-ahead.ts): for a sequential reader, in the idle moment after its last answer went out.
   * Nothing is kept when there is nothing to read there, or the read fails (the call itself will
   * meet and report the failure).
   */
  readAhead(from: number, maxBytes = DEFAULT_MAX_BYTES, isolation: Isolation = 'highWatermark'): void {
    const end = this.endFor(isolation);
    if (!Number.isSafeInteger(from) || from < this.logStartOffset || from >= end) return;
    try {
      const read = this.readStored(from, maxBytes, end);
      if (read.batches.length > 0) this.ahead.keep(this.id, { from, maxBytes, isolation, end, ...read });
    } catch {
      // not kept: readBatches reads again and throws it to its caller
    }
  }

  /** Whole stored batches from the one holding `from` to `end`, CRC verified; `full` when maxBytes stopped the read. */
  private readStored(from: number, maxBytes: number, end: number): { batches: RawBatch[]; bytes: number; full: boolean } {
    const batches: RawBatch[] = [];
    let bytes = 0;
    let full = false;
    if (from >= end) return { batches, bytes, full };
    let next = from;
    try {
      for (const row of this.reader.batchesFrom(this.id, from, end)) {
        // The row before a gap (offsets missing, as salvage leaves them) is not the one holding `from`.
        if (row.lastOffset < from) continue;
        // A batch reaching past the bound (the high watermark inside it) waits until all of it is committed.
        if (row.lastOffset >= end) break;
        if (batches.length > 0 && bytes + row.data.length > maxBytes) {
          full = true;
          break;
        }
        if (row.baseOffset > next) throw this.missing(next, row.baseOffset);
        this.verify(row);
        batches.push({ baseOffset: row.baseOffset, lastOffset: row.lastOffset, bytes: row.data });
        bytes += row.data.length;
        next = row.lastOffset + 1;
      }
    } catch (err) {
      if (batches.length === 0) throw this.asCorruption(err, next);
    }
    return { batches, bytes, full };
  }

  /** The first committed offset whose record has a timestamp at or after `timestamp`, or null if none does. */
  offsetForTimestamp(timestamp: number): number | null {
    const end = this.hw;
    const row = this.guard(timestamp, () => this.reader.firstBatchAtOrAfter(this.id, timestamp, end));
    if (row === undefined) return null;
    const batch = this.decode(row);
    const hit = batch.records.find((r) => r.timestamp >= timestamp && r.offset >= this.logStartOffset && r.offset < end);
    return hit?.offset ?? null;
  }

  private endFor(isolation: Isolation = 'highWatermark'): number {
    return isolation === 'logEnd' ? this.logEndOffset : this.hw;
  }

  private checkOffset(offset: number): void {
    if (!Number.isSafeInteger(offset) || offset < this.logStartOffset || offset > this.logEndOffset) {
      throw new OffsetOutOfRangeError(this.topic, this.partition, offset, this.logStartOffset, this.logEndOffset);
    }
  }

  private decode(row: StoredBatchRow): DecodedBatch {
    const batch = this.guard(row.baseOffset, () => decodeBatch(row.data));
    if (batch.baseOffset !== row.baseOffset || batch.baseOffset + batch.lastOffsetDelta !== row.lastOffset) {
      throw this.corrupt(row.baseOffset, `header says offsets ${batch.baseOffset}..${batch.baseOffset + batch.lastOffsetDelta}, the index ${row.baseOffset}..${row.lastOffset}`);
    }
    return batch;
  }

  private verify(row: StoredBatchRow): void {
    const header = this.guard(row.baseOffset, () => readBatchHeader(row.data, true));
    if (header.baseOffset !== row.baseOffset) throw this.corrupt(row.baseOffset, `header says base offset ${header.baseOffset}`);
  }

  /** Runs `fn`, turning format errors and SQLite's damaged-page errors into CorruptBatchError. */
  private guard<T>(offset: number, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.asCorruption(err, offset);
    }
  }

  private asCorruption(err: unknown, offset: number): unknown {
    if (err instanceof BatchFormatError) return this.corrupt(offset, err.message);
    if (isSqliteCorruption(err)) return this.corrupt(offset, `storage page damaged: ${(err as Error).message}`);
    return err;
  }

  /**
   * The error for a bad batch stored at `offset`. The range it names runs to just before the next
   * stored batch (found by the row keys, so it is right even when the batch's header is damaged),
   * or to the log end when none can be found.
   */
  private corrupt(offset: number, reason: string, lastOffset?: number): CorruptBatchError {
    const err = new CorruptBatchError(this.topic, this.partition, offset, reason, lastOffset ?? this.endOfDamage(offset));
    this.onCorrupt(err);
    return err;
  }

  private missing(from: number, nextBase: number): CorruptBatchError {
    return this.corrupt(from, `offsets ${from}..${nextBase - 1} are missing`, nextBase - 1);
  }

  private endOfDamage(offset: number): number {
    const seek = (at: number): number | undefined => this.reader.nextBaseOffset(this.id, at - 1);
    let next = trySeek(seek, offset + 1);
    // A damaged page under the keys: the first row past it (damage-probe.ts).
    if (next === DAMAGED) next = firstBaseAfterDamage(seek, offset + 1, this.logEndOffset);
    if (next !== undefined && next <= this.logEndOffset) return next - 1;
    return Math.max(offset, this.logEndOffset - 1);
  }
}

function recordSize(r: LogRecord): number {
  let size = (r.key?.length ?? 0) + (r.value?.length ?? 0);
  for (const [name, value] of r.headers) size += name.length + (value?.length ?? 0);
  return size;
}
