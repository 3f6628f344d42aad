// The idempotent producers' state of each partition, as Kafka's ProducerStateManager keeps it: per
// (partition, producer id) the producer's epoch and the sequences and offsets of its last five
// batches. Used by the writer thread only (not thread-safe), inside the transaction that stores
// the batch: a batch and the state it changes commit together, so after a crash or a SIGKILL the
// state is exactly that of the batches that survived (rather than rebuilt by reading every batch
// header at start, which costs a scan of the log on every unclean start).
//
// The checks (Kafka's ProducerAppendInfo.checkSequence and ProducerStateEntry.findDuplicateBatch):
//   - the same epoch and the same first and last sequence as one of the last 5 batches: a retry of
//     a batch already stored; it is answered with that batch's offsets and not stored again;
//   - an epoch older than the producer's: refused (ProducerFencedError);
//   - a newer epoch: its first sequence must be 0 (a producer that bumped its epoch starts over);
//   - the same epoch: the first sequence must follow the last batch's last sequence (wrapping
//     after 2^31-1 to 0), else OutOfOrderSequenceError;
//   - a producer id the partition knows nothing of (new, or its batches went with retention): any
//     sequence is taken, as Kafka does.
import { OutOfOrderSequenceError, ProducerFencedError } from '../errors.js';
import type { BatchHeader } from './record-batch.js';
import type { Db } from './schema.js';

/** Batches remembered per producer and partition (Kafka's NUM_BATCHES_TO_RETAIN; max.in.flight.requests.per.connection is at most 5 with idempotence). */
export const BATCHES_KEPT = 5;
const MAX_SEQUENCE = 0x7fffffff;

export interface ProducerBatch {
  firstSequence: number;
  lastSequence: number;
  baseOffset: number;
  lastOffset: number;
}

interface ProducerEntry {
  epoch: number;
  /** Oldest first, at most BATCHES_KEPT. */
  batches: ProducerBatch[];
}

interface Row extends ProducerBatch {
  partitionId: number;
  producerId: number;
  epoch: number;
}

export class ProducerStates {
  /** partition id -> producer id -> entry. */
  private readonly partitions = new Map<number, Map<number, ProducerEntry>>();
  private readonly insert;
  private readonly deleteBefore;
  private readonly deleteOlderEpochs;

  constructor(private readonly db: Db) {
    this.insert = db.prepare(
      `INSERT INTO producer_batches (partition_id, producer_id, producer_epoch, first_sequence, last_sequence, base_offset, last_offset)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    this.deleteBefore = db.prepare(`DELETE FROM producer_batches WHERE partition_id = ? AND producer_id = ? AND base_offset < ?`);
    this.deleteOlderEpochs = db.prepare(`DELETE FROM producer_batches WHERE partition_id = ? AND producer_id = ? AND producer_epoch < ?`);
    this.load();
  }

  /** Reads the table again (after a rolled-back transaction, a truncation or retention). */
  load(): void {
    this.partitions.clear();
    const rows = this.db
      .prepare(
        `SELECT partition_id AS partitionId, producer_id AS producerId, producer_epoch AS epoch, first_sequence AS firstSequence,
                last_sequence AS lastSequence, base_offset AS baseOffset, last_offset AS lastOffset
           FROM producer_batches ORDER BY partition_id, producer_id, base_offset`,
      )
      .all() as Row[];
    for (const row of rows) {
      const entry = this.entryFor(row.partitionId, row.producerId, row.epoch);
      if (row.epoch > entry.epoch) entry.batches = [];
      entry.epoch = Math.max(entry.epoch, row.epoch);
      if (row.epoch === entry.epoch) entry.batches.push({ firstSequence: row.firstSequence, lastSequence: row.lastSequence, baseOffset: row.baseOffset, lastOffset: row.lastOffset });
    }
    for (const producers of this.partitions.values()) for (const entry of producers.values()) entry.batches = entry.batches.slice(-BATCHES_KEPT);
  }

  /**
   * Checks an idempotent batch (header.producerId >= 0) against the producer's state: the stored
   * batch it repeats, or null when it is new and in sequence. Throws ProducerFencedError or
   * OutOfOrderSequenceError (nothing is changed).
   */
  check(partitionId: number, topic: string, partition: number, header: BatchHeader): ProducerBatch | null {
    const entry = this.partitions.get(partitionId)?.get(header.producerId);
    if (entry === undefined) return null;
    const first = header.baseSequence;
    const last = lastSequenceOf(header);
    if (header.producerEpoch === entry.epoch) {
      const duplicate = entry.batches.find((b) => b.firstSequence === first && b.lastSequence === last);
      if (duplicate !== undefined) return duplicate;
    }
    if (header.producerEpoch < entry.epoch) throw new ProducerFencedError(topic, partition, header.producerId, entry.epoch, header.producerEpoch);
    if (header.producerEpoch > entry.epoch) {
      if (first !== 0) throw new OutOfOrderSequenceError(topic, partition, header.producerId, 0, first);
      return null;
    }
    const lastStored = entry.batches[entry.batches.length - 1];
    if (lastStored === undefined) return null;
    const expected = lastStored.lastSequence === MAX_SEQUENCE ? 0 : lastStored.lastSequence + 1;
    if (first !== expected) throw new OutOfOrderSequenceError(topic, partition, header.producerId, expected, first);
    return null;
  }

  /** Records a stored idempotent batch; call inside the transaction that inserted it. */
  record(partitionId: number, header: BatchHeader, baseOffset: number, lastOffset: number): void {
    const { producerId, producerEpoch } = header;
    const batch: ProducerBatch = { firstSequence: header.baseSequence, lastSequence: lastSequenceOf(header), baseOffset, lastOffset };
    this.insert.run(partitionId, producerId, producerEpoch, batch.firstSequence, batch.lastSequence, baseOffset, lastOffset);
    const entry = this.entryFor(partitionId, producerId, producerEpoch);
    if (producerEpoch > entry.epoch) {
      this.deleteOlderEpochs.run(partitionId, producerId, producerEpoch);
      entry.epoch = producerEpoch;
      entry.batches = [];
    }
    entry.batches.push(batch);
    if (entry.batches.length > BATCHES_KEPT) {
      entry.batches.shift();
      this.deleteBefore.run(partitionId, producerId, entry.batches[0]!.baseOffset);
    }
  }

  private entryFor(partitionId: number, producerId: number, epoch: number): ProducerEntry {
    let producers = this.partitions.get(partitionId);
    if (producers === undefined) this.partitions.set(partitionId, (producers = new Map()));
    let entry = producers.get(producerId);
    if (entry === undefined) producers.set(producerId, (entry = { epoch, batches: [] }));
    return entry;
  }
}

/** The batch's last sequence: its first plus its last offset delta, wrapping after 2^31-1 (Kafka's DefaultRecordBatch.incrementSequence). */
function lastSequenceOf(header: BatchHeader): number {
  const last = header.baseSequence + header.lastOffsetDelta;
  return last > MAX_SEQUENCE ? last - MAX_SEQUENCE - 1 : last;
}

/**
 * Removes the producer state of batches at or above `offset` of one partition (a truncation).
 * The caller reloads the in-memory state after its transaction.
 */
export function dropProducerBatchesFrom(db: Db, partitionId: number, offset: number): void {
  db.prepare(`DELETE FROM producer_batches WHERE partition_id = ? AND base_offset >= ?`).run(partitionId, offset);
}

/**
 * Forgets the producers of one partition whose last batch is below the new log start (retention
 * deleted every batch they wrote there), as Kafka evicts unretained producers. Bounds the state by
 * the log's retention. The caller reloads the in-memory state after its transaction.
 */
export function dropUnretainedProducers(db: Db, partitionId: number, logStart: number): void {
  db.prepare(
    `DELETE FROM producer_batches WHERE partition_id = ? AND producer_id IN
       (SELECT producer_id FROM producer_batches WHERE partition_id = ? GROUP BY producer_id HAVING MAX(last_offset) < ?)`,
  ).run(partitionId, partitionId, logStart);
}
