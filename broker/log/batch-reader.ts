// The read side of the log's SQLite file: a read-only connection on the main thread. SQLite's WAL
// gives each read a snapshot of committed transactions, so a read runs while the writer thread
// commits and never sees half of a batch.
import { LAST_DELETED_ENTRY_SQL, openDatabase, parseLastDeletedEntry, type Db } from './schema.js';

export interface StoredBatchRow {
  baseOffset: number;
  lastOffset: number;
  data: Buffer;
}

export class BatchReader {
  private readonly db: Db;
  private readonly fromOffset;
  private readonly atTime;
  private readonly nextBase;
  // Prepared once: a replication leader asks these on every follower fetch and commit.
  private readonly newest;
  private readonly entriesFrom;
  private readonly atOrBelowEpoch;
  private readonly ends;
  private readonly deletedEntry;

  constructor(databaseFile: string) {
    this.db = openDatabase(databaseFile, { readonly: true });
    // Starts at the batch holding `from` (the last one based at or below it), ends before `end`.
    this.fromOffset = this.db.prepare(
      `SELECT base_offset AS baseOffset, last_offset AS lastOffset, data FROM batches
        WHERE partition_id = @partitionId AND base_offset < @end
          AND base_offset >= COALESCE((SELECT base_offset FROM batches
                                        WHERE partition_id = @partitionId AND base_offset <= @from
                                        ORDER BY base_offset DESC LIMIT 1), @from)
        ORDER BY base_offset`,
    );
    this.atTime = this.db.prepare(
      `SELECT base_offset AS baseOffset, last_offset AS lastOffset, data FROM batches
        WHERE partition_id = ? AND ts_high >= ? AND base_offset < ?
        ORDER BY ts_high, base_offset LIMIT 1`,
    );
    // The row itself is touched (length(data) reads its cell), not only the offset index: a batch
    // whose table page is damaged does not count as the next one (see damage-probe.ts).
    this.nextBase = this.db
      .prepare(`SELECT base_offset, length(data) FROM batches WHERE partition_id = ? AND base_offset > ? ORDER BY base_offset LIMIT 1`)
      .pluck();
    this.newest = this.db.prepare(`SELECT id AS seq, leader_epoch AS epoch FROM batches ORDER BY id DESC LIMIT 1`);
    this.entriesFrom = this.db.prepare(
      `SELECT b.id AS seq, b.leader_epoch AS epoch, p.topic, p.partition, b.data AS batch
         FROM batches b JOIN partitions p ON p.id = b.partition_id WHERE b.id > ? ORDER BY b.id`,
    );
    this.atOrBelowEpoch = this.db.prepare(
      `SELECT b.id AS seq, b.leader_epoch AS epoch FROM partitions p JOIN batches b ON b.id = (
         SELECT id FROM batches WHERE partition_id = p.id
            AND base_offset < COALESCE((SELECT MIN(start_offset) FROM leader_epochs e WHERE e.partition_id = p.id AND e.epoch > @epoch), 9007199254740991)
          ORDER BY base_offset DESC LIMIT 1)
        ORDER BY b.id DESC LIMIT 1`,
    );
    this.deletedEntry = this.db.prepare(LAST_DELETED_ENTRY_SQL).pluck();
    this.ends = this.db.prepare(`SELECT partition_id AS partitionId, MAX(last_offset) + 1 AS end FROM batches WHERE id > ? AND id <= ? GROUP BY partition_id`);
  }

  /** The base offset of the first batch stored after `offset`, if any: where a damaged one ends. */
  nextBaseOffset(partitionId: number, offset: number): number | undefined {
    return this.nextBase.get(partitionId, offset) as number | undefined;
  }

  /** Batches from the one holding `from` up to (not including) offset `end`, oldest first. */
  batchesFrom(partitionId: number, from: number, end: number): IterableIterator<StoredBatchRow> {
    return this.fromOffset.iterate({ partitionId, from, end }) as IterableIterator<StoredBatchRow>;
  }

  /** The first batch holding a record at or after `timestamp`, if any. */
  firstBatchAtOrAfter(partitionId: number, timestamp: number, end: number): StoredBatchRow | undefined {
    return this.atTime.get(partitionId, timestamp, end) as StoredBatchRow | undefined;
  }

  /** The leader-epoch cache of a partition: each epoch and its first offset, oldest first. */
  leaderEpochs(partitionId: number): EpochStart[] {
    return this.db
      .prepare(`SELECT epoch, start_offset AS startOffset FROM leader_epochs WHERE partition_id = ? ORDER BY epoch`)
      .all(partitionId) as EpochStart[];
  }

  /** The replication log's last entry (the newest batch's position and epoch; retention's record of it when none is left). */
  lastEntry(): EntryPosition {
    const newest = this.newest.get() as EntryPosition | undefined;
    // Retention may have deleted the newest entry while older ones of other partitions remain (a
    // byte cap below one batch, an age): the position is still the deleted one's, as the writer's is.
    const deleted = this.lastDeletedEntry();
    return newest === undefined || deleted.seq > newest.seq ? deleted : newest;
  }

  /** Retention's record of the newest entry it deleted (schema.ts lastDeletedEntry), by the statement prepared once. */
  private lastDeletedEntry(): EntryPosition {
    return parseLastDeletedEntry(this.deletedEntry.get() as string | undefined);
  }

  /** Replication-log entries after position `seq`, in order, up to about `maxBytes` (at least one). */
  entriesAfter(seq: number, maxBytes: number): StoredEntry[] {
    const entries: StoredEntry[] = [];
    let bytes = 0;
    const rows = this.entriesFrom.iterate(seq) as IterableIterator<StoredEntry>;
    for (const row of rows) {
      if (entries.length > 0 && bytes + row.batch.length > maxBytes) break; // for-of's break ends the statement's iteration
      entries.push(row);
      bytes += row.batch.length;
    }
    return entries;
  }

  /**
   * The last entry of the largest epoch at or below `epoch`: per partition the last batch before
   * the first epoch above `epoch` starts (the leader-epoch cache and the offset index: a few index
   * seeks per partition, whatever the log's length), the newest of those. seq 0 / epoch -1: none.
   */
  lastEntryAtOrBelowEpoch(epoch: number): EntryPosition {
    const row = this.atOrBelowEpoch.get({ epoch }) as EntryPosition | undefined;
    // The newest entry retention deleted counts too (see lastEntry): it may be above every row left.
    const deleted = this.lastDeletedEntry();
    const deletedCounts = deleted.seq > 0 && deleted.epoch <= epoch;
    if (row !== undefined && !(deletedCounts && deleted.seq > row.seq)) return row;
    return deletedCounts ? deleted : { seq: 0, epoch: -1 };
  }

  /** Per partition id, the end offset (last offset + 1) of its last batch at positions in (afterSeq, uptoSeq]. */
  endsBetween(afterSeq: number, uptoSeq: number): { partitionId: number; end: number }[] {
    return this.ends.all(afterSeq, uptoSeq) as { partitionId: number; end: number }[];
  }

  /**
   * Per partition id, the end offset of its last batch at a position at or below `uptoSeq`: each
   * partition's offset index walked back from its end past the positions above (a few rows), so a
   * first commit after a restart does not read the whole table.
   */
  endsAtOrBelow(uptoSeq: number): { partitionId: number; end: number }[] {
    return this.db
      .prepare(
        `SELECT p.id AS partitionId,
                (SELECT b.last_offset + 1 FROM batches b WHERE b.partition_id = p.id AND b.id <= ? ORDER BY b.base_offset DESC LIMIT 1) AS end
           FROM partitions p`,
      )
      .all(uptoSeq)
      .filter((row) => (row as { end: number | null }).end !== null) as { partitionId: number; end: number }[];
  }

  /** How many partitions have a batch at a position after `afterSeq` (what a replica at `afterSeq` lacks): one index seek per partition. */
  partitionsWithEntriesAfter(afterSeq: number): number {
    const row = this.db
      .prepare(`SELECT COUNT(*) AS n FROM partitions p WHERE (SELECT b.id FROM batches b WHERE b.partition_id = p.id ORDER BY b.base_offset DESC LIMIT 1) > ?`)
      .get(afterSeq) as { n: number };
    return row.n;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** A position in the replication log: an entry's seq and leader epoch. */
export interface EntryPosition {
  epoch: number;
  seq: number;
}

/** One replication-log entry: a stored batch, byte for byte, at its position. */
/** A partition's log start offset as one log tells another (a leader's, sent with its entries). */
export interface LogStartOffset {
  topic: string;
  partition: number;
  logStartOffset: number;
}

export interface StoredEntry extends EntryPosition {
  topic: string;
  partition: number;
  batch: Buffer;
}

export interface EpochStart {
  epoch: number;
  startOffset: number;
}
