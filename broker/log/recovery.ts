// Recovery after an unclean stop (crash, SIGKILL, power cut), run by the writer before it serves.
//
// SQLite's WAL already guarantees that a commit is all-or-nothing, so unlike Kafka's segment files
// the log can never hold a torn batch. What recovery guards against is the storage itself: bytes
// that changed on an SD card or a failing SSD. Its passes:
//   1. verify every batch at or above each partition's recovery point: CRC-32C, the header's base
//      offset against the row, the offset range, and contiguity with the batch before;
//   2. report each bad batch (topic, partition, offset, reason). Bad batches are NOT deleted: a
//      SQLite row is independent of its neighbours, so the batches after a bad one are good and
//      were acknowledged; truncating them (as Kafka must with a torn segment tail) would throw
//      acknowledged data away and let new records reuse their offsets. Reads of a bad batch fail
//      with TRIB_LOG_CORRUPT_BATCH instead, so corrupt data is never returned;
//   3. move each recovery point to the log end, so the next unclean start checks only new batches;
//   4. rebuild each leader-epoch cache from the recovery point on, from the batches' leader_epoch
//      column (it is written in the same transactions as the batches, so it should agree; a
//      disagreement is reported).
import { BatchFormatError, readBatchHeader } from './record-batch.js';
import { rebuildLeaderEpochs, type Db } from './schema.js';
import type { RecoveryReport } from './writer-protocol.js';

interface PartitionRow {
  id: number;
  topic: string;
  partition: number;
  logStartOffset: number;
  recoveryPoint: number;
}

interface StoredBatch {
  baseOffset: number;
  lastOffset: number;
  data: Buffer;
}

export class LogRecovery {
  private readonly report: RecoveryReport = {
    partitionsChecked: 0,
    batchesChecked: 0,
    problems: [],
  };

  constructor(private readonly db: Db) {}

  run(): RecoveryReport {
    const partitions = this.db
      .prepare(
        `SELECT id, topic, partition, log_start_offset AS logStartOffset, recovery_point AS recoveryPoint
           FROM partitions ORDER BY topic, partition`,
      )
      .all() as PartitionRow[];
    for (const p of partitions) this.verifyPartition(p); // passes 1 and 2
    for (const p of partitions) {
      const changed = rebuildLeaderEpochs(this.db, p.id, Math.max(p.recoveryPoint, p.logStartOffset)); // pass 4
      if (changed > 0) this.report.problems.push(`${p.topic}-${p.partition}: leader-epoch cache disagreed with the batches in ${changed} entries; rebuilt from them`);
    }
    this.advanceRecoveryPoints(); // pass 3
    return this.report;
  }

  private verifyPartition(p: PartitionRow): void {
    this.report.partitionsChecked++;
    const from = Math.max(p.recoveryPoint, p.logStartOffset);
    const previous = this.db
      .prepare(`SELECT MAX(last_offset) FROM batches WHERE partition_id = ? AND base_offset < ?`)
      .pluck()
      .get(p.id, from) as number | null;
    let expected = previous === null ? null : previous + 1;
    const rows = this.db
      .prepare(
        `SELECT base_offset AS baseOffset, last_offset AS lastOffset, data
           FROM batches WHERE partition_id = ? AND base_offset >= ? ORDER BY base_offset`,
      )
      .iterate(p.id, from) as Iterable<StoredBatch>;
    try {
      for (const row of rows) {
        this.report.batchesChecked++;
        const problem = checkBatch(row, expected);
        if (problem !== null) this.report.problems.push(`${p.topic}-${p.partition} offset ${row.baseOffset}: ${problem}`);
        expected = row.lastOffset + 1;
      }
    } catch (err) {
      // SQLite itself found a damaged page: name the partition and go on with the others.
      this.report.problems.push(`${p.topic}-${p.partition}: ${(err as Error).message}`);
    }
  }

  private advanceRecoveryPoints(): void {
    this.db.exec(
      `UPDATE partitions SET recovery_point =
         COALESCE((SELECT MAX(last_offset) + 1 FROM batches WHERE partition_id = partitions.id), log_start_offset)`,
    );
  }
}

function checkBatch(row: StoredBatch, expectedBase: number | null): string | null {
  if (expectedBase !== null && row.baseOffset !== expectedBase) {
    return `offset gap: expected the batch to start at ${expectedBase}`;
  }
  try {
    const header = readBatchHeader(row.data, true);
    if (header.baseOffset !== row.baseOffset) return `header says base offset ${header.baseOffset}`;
    if (row.baseOffset + header.lastOffsetDelta !== row.lastOffset) {
      return `header's last offset ${row.baseOffset + header.lastOffsetDelta} differs from the index (${row.lastOffset})`;
    }
    return null;
  } catch (err) {
    if (err instanceof BatchFormatError) return err.message;
    throw err;
  }
}
