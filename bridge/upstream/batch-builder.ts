// Reads the next batch to deliver from the log: bounded chunks from each lane with committed
// records past its read position, in the lanes' round-robin order, up to the batch limits of the
// moment. Reading moves the lanes' read positions ahead of their durable cursors (a reconnect
// rewinds them); it also notices what reading finds: records retention deleted before they were
// forwarded (counted, skipped), and a cursor past the end of the local log (the lane halts).
import type { Logger } from 'pino';
import { TributaryError } from '../../broker/errors.js';
import type { Log } from '../../broker/log/log.js';
import type { AdaptiveBatchSize } from './batch-size.js';
import { UpstreamCursorConflictError } from './errors.js';
import { upstreamError } from './kafka-errors.js';
import type { Lane } from './lane.js';
import type { LaneTable } from './lane-table.js';
import type { Delivery } from './sink.js';
import { upstreamSize } from './upstream-record.js';

/** Records read per slice of a read-ahead (about half a millisecond of work). */
const READ_AHEAD_SLICE = 500;

/** A batch being read: `full` once it reached the batch limits. */
export interface Draft extends Delivery {
  full: boolean;
}

export interface BatchBuilderOptions {
  log: Log;
  node: string;
  lanes: LaneTable;
  size: AdaptiveBatchSize;
  logger: Logger;
  /** Told of records retention deleted before they were forwarded (each range once). */
  lost(records: number): void;
}

export class BatchBuilder {
  constructor(private readonly options: BatchBuilderOptions) {}

  /**
   * Reads up to `slice` more records into `draft` (a new one when null): bounded chunks from each
   * partition with new records, oldest first per partition, until the batch limits. Returns null
   * when nothing moved and there was no draft.
   */
  collect(draft: Draft | null, slice: number): Draft | null {
    const { log, node, lanes, size } = this.options;
    const { batchRecords, batchBytes } = size.limits();
    const batch: Draft = draft ?? { messages: [], cursors: [], bytes: 0, full: false };
    const { messages } = batch;
    const limit = Math.min(batchRecords, messages.length + slice);
    for (const lane of lanes.values()) {
      if (lane.builder === null || lane.halted) continue;
      if (batch.full || messages.length >= limit) break;
      const partition = log.partition(lane.topic, lane.partition);
      const start = lane.readPosition;
      this.skipRetentionGap(lane, partition.logStartOffset);
      if (lane.readPosition > partition.logEndOffset) {
        this.halt(lane, `the upstream cursor (${lane.readPosition}) is past the end of the local log (${partition.logEndOffset}): records acknowledged upstream are missing locally (durability 'write' after a power cut?)`);
        continue;
      }
      try {
        while (!batch.full && lane.readPosition < partition.highWatermark && messages.length < limit) {
          // Whole stored batches: a slice ending inside one would have it decoded twice.
          const read = log.read(lane.topic, lane.partition, lane.readPosition, { maxRecords: limit - messages.length, maxBytes: batchBytes - batch.bytes, wholeBatches: true });
          if (read.records.length === 0) break;
          for (const record of read.records) {
            if (messages.length >= batchRecords) {
              batch.full = true;
              break;
            }
            const recordSize = upstreamSize(record, node);
            // Always at least one record, so that a record larger than batchBytes still moves (alone).
            if (messages.length > 0 && batch.bytes + recordSize > batchBytes) {
              batch.full = true;
              break;
            }
            messages.push(lane.builder.build(record));
            batch.bytes += recordSize;
            lane.readPosition = record.offset + 1;
          }
        }
        lane.lastError = null;
      } catch (err) {
        // A read racing retention, or a damaged batch: retried on the next round, visible meanwhile.
        lane.lastError = err instanceof TributaryError ? err : upstreamError(err, []);
      }
      if (lane.readPosition !== start) {
        const cursor = batch.cursors.find((c) => c.topic === lane.topic && c.partition === lane.partition);
        if (cursor === undefined) batch.cursors.push({ topic: lane.topic, partition: lane.partition, nextOffset: lane.readPosition });
        else cursor.nextOffset = lane.readPosition;
      }
    }
    if (messages.length >= batchRecords || batch.bytes >= batchBytes) batch.full = true;
    return batch.cursors.length === 0 ? null : batch;
  }

  /**
   * Reads the next batch while Kafka works on the current one, a slice at a time, yielding to
   * I/O between slices: the client's own work on the delivery (handling an answer, encoding the
   * produce request, sending the commit) runs on this thread too, and a read of a whole batch in
   * one go would hold it up (with a transaction per batch, the AddPartitionsToTxn answer arrives
   * within a millisecond, and a 10,000-record read then delayed the produce request by its
   * whole length instead of overlapping Kafka's work on it).
   */
  async readAhead(): Promise<Draft | null> {
    let draft: Draft | null = null;
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      const before = draft?.messages.length ?? 0;
      draft = this.collect(draft, READ_AHEAD_SLICE);
      // Caught up with the log (or full): the rest is topped up when this delivery is done.
      if (draft === null || draft.full || draft.messages.length - before < READ_AHEAD_SLICE) return draft;
    }
  }

  private skipRetentionGap(lane: Lane, logStartOffset: number): void {
    if (lane.readPosition >= logStartOffset) return;
    // A reconnect before the skip was committed rewinds below the gap again: count each range once.
    const from = Math.max(lane.readPosition, lane.lostCountedUpTo);
    lane.readPosition = logStartOffset;
    if (from >= logStartOffset) return;
    const lost = logStartOffset - from;
    lane.lostCountedUpTo = logStartOffset;
    lane.recordsLostToRetention += lost;
    this.options.lost(lost);
    this.options.logger.error(
      { topic: lane.topic, partition: lane.partition, from, to: logStartOffset - 1, records: lost },
      'RECORDS LOST UPSTREAM: retention deleted records that were never forwarded to Kafka (an outage longer than log.retention, or size-based retention under a backlog)',
    );
  }

  private halt(lane: Lane, message: string): void {
    lane.halted = true;
    lane.lastError = new UpstreamCursorConflictError(`${lane.topic}-${lane.partition}: ${message}`);
    this.options.logger.error({ topic: lane.topic, partition: lane.partition }, message);
  }
}
