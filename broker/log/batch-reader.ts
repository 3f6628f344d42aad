// The read side of the log's SQLite file: a read-only connection on the main thread. SQLite's WAL
// gives each read a snapshot of committed transactions, so a read runs while the writer thread
// commits and never sees half of a batch.
import { openDatabase, type Db } from './schema.js';

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

  close(): void {
    if (this.db.open) this.db.close();
  }
}

export interface EpochStart {
  epoch: number;
  startOffset: number;
}
