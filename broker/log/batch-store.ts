// The write side of the log's SQLite file: every statement that changes it. Used only by the
// writer thread, which owns the one write connection; not thread-safe and not meant to be.
import { CorruptBatchError, OffsetMismatchError, OutOfOrderSequenceError, ProducerFencedError, StaleEpochError, TopicConflictError } from '../errors.js';
import { dropProducerBatchesFrom, dropUnretainedProducers, ProducerStates } from './producer-state.js';
import { BASE_OFFSET_POSITION, BatchFormatError, LEADER_EPOCH_POSITION, readBatchHeader } from './record-batch.js';
import { lastDeletedEntry, rebuildLeaderEpochs, trimLeaderEpochs, type Db } from './schema.js';
import { KEY_RELEASES_TOPIC, keyOfBatch, releasesOfBatch } from './idempotence-header.js';
import type {
  AppendRequest,
  AppendResult,
  StagedEntry,
  PartitionState,
  ReclaimResult,
  RetentionPolicy,
  RetentionResult,
} from './writer-protocol.js';

interface WriterPartition extends PartitionState {
  /** Running maximum of batch timestamps: see ts_high in schema.ts. */
  tsHigh: number;
}

/** An idempotent producer's batch refused before anything was written: the rest of its group goes on. */
export type AppendRefusal = OutOfOrderSequenceError | ProducerFencedError;

export class BatchStore {
  private readonly partitions = new Map<number, WriterPartition>();
  private readonly producers: ProducerStates;
  private readonly insertBatch;
  private readonly insertTopic;
  private readonly insertPartition;
  private readonly selectOldest;
  private readonly deleteBelow;
  private readonly setLogStart;
  private readonly selectKey;
  private readonly insertKey;
  private readonly deleteKey;
  private readonly replaceKey;
  private readonly deleteProducerKeys;
  private readonly insertEpoch;
  private readonly latestEpoch;
  private readonly batchAtOrBelow;
  private readonly deleteFrom;
  private readonly deleteKeysFrom;
  private readonly lowerRecoveryPoint;
  private readonly freePages;
  private readonly inAppendOrder;
  private readonly pageCount;
  private readonly pageSize: number;
  private readonly treeBytes;
  private readonly smallTrees;
  /**
   * The position (rowid) of the last batch ever appended, the replication log's `seq`: every new
   * row gets the next one, explicitly, so that a position is never handed out twice even when
   * retention has emptied the table (SQLite would restart rowids at 1), and a follower stores a
   * batch at the leader's position (appendEntries).
   */
  private lastSeq = 0;

  /** The position of the last row written (the replication log's last `seq` once committed). */
  get lastPosition(): number {
    return this.lastSeq;
  }

  constructor(private readonly db: Db) {
    this.insertBatch = db.prepare(
      `INSERT INTO batches (id, partition_id, base_offset, last_offset, max_timestamp, ts_high, leader_epoch, size, data)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertTopic = db.prepare(`INSERT INTO topics (name, partitions, created_at) VALUES (?, ?, ?)`);
    this.insertPartition = db.prepare(`INSERT INTO partitions (topic, partition) VALUES (?, ?)`);
    this.selectOldest = db.prepare(
      `SELECT base_offset AS baseOffset, last_offset AS lastOffset, max_timestamp AS maxTimestamp, size
         FROM batches WHERE partition_id = ? ORDER BY base_offset`,
    );
    this.deleteBelow = db.prepare(`DELETE FROM batches WHERE partition_id = ? AND base_offset < ?`);
    this.setLogStart = db.prepare(`UPDATE partitions SET log_start_offset = ? WHERE id = ?`);
    this.selectKey = db.prepare(
      `SELECT base_offset AS baseOffset, last_offset AS lastOffset FROM idempotence_keys WHERE producer = ? AND sequence = ?`,
    );
    this.insertKey = db.prepare(
      `INSERT INTO idempotence_keys (producer, sequence, partition_id, base_offset, last_offset) VALUES (?, ?, ?, ?, ?)`,
    );
    this.replaceKey = db.prepare(`INSERT OR REPLACE INTO idempotence_keys (producer, sequence, partition_id, base_offset, last_offset) VALUES (?, ?, ?, ?, ?)`);
    this.deleteKey = db.prepare(`DELETE FROM idempotence_keys WHERE producer = ? AND sequence = ?`);
    this.deleteProducerKeys = db.prepare(`DELETE FROM idempotence_keys WHERE producer = ?`);
    this.insertEpoch = db.prepare(`INSERT INTO leader_epochs (partition_id, epoch, start_offset) VALUES (?, ?, ?)`);
    this.latestEpoch = db.prepare(`SELECT COALESCE(MAX(epoch), -1) FROM leader_epochs WHERE partition_id = ?`).pluck();
    this.batchAtOrBelow = db.prepare(
      `SELECT base_offset AS baseOffset, last_offset AS lastOffset FROM batches
        WHERE partition_id = ? AND base_offset <= ? ORDER BY base_offset DESC LIMIT 1`,
    );
    this.deleteFrom = db.prepare(`DELETE FROM batches WHERE partition_id = ? AND base_offset >= ?`);
    this.deleteKeysFrom = db.prepare(`DELETE FROM idempotence_keys WHERE partition_id = ? AND base_offset >= ?`);
    this.lowerRecoveryPoint = db.prepare(`UPDATE partitions SET recovery_point = MIN(recovery_point, ?) WHERE id = ?`);
    this.freePages = db.prepare('PRAGMA freelist_count').pluck();
    this.inAppendOrder = db.prepare(
      `SELECT partition_id AS partitionId, base_offset AS baseOffset, last_offset AS lastOffset, max_timestamp AS maxTimestamp, size
         FROM batches ORDER BY id`,
    );
    this.pageCount = db.prepare('PRAGMA page_count').pluck();
    this.pageSize = db.pragma('page_size', { simple: true }) as number;
    // dbstat asked by name walks that tree only: the small ones, never the batches' (a full walk
    // of a 1 GB file takes a few hundred ms).
    this.treeBytes = db.prepare(`SELECT pgsize FROM dbstat WHERE name = ? AND aggregate = TRUE`).pluck();
    this.smallTrees = db
      .prepare(`SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') AND name NOT LIKE 'batches%' UNION ALL SELECT 'sqlite_schema'`)
      .pluck();
    this.loadStates();
    this.loadLastSeq();
    this.producers = new ProducerStates(db);
  }

  /** The last position: the newest row's, or the newest one retention deleted (meta 'last_entry'). */
  private loadLastSeq(): void {
    const newest = (this.db.prepare(`SELECT MAX(id) FROM batches`).pluck().get() as number | null) ?? 0;
    this.lastSeq = Math.max(newest, lastDeletedEntry(this.db).seq);
  }

  states(): PartitionState[] {
    return [...this.partitions.values()].map(publicState);
  }

  private loadStates(): void {
    const rows = this.db
      .prepare(
        // Each figure from an index, never the table: its leaf pages hold the batches themselves,
        // and a scan of them would read the whole log at every start (batches_by_time covers size).
        `SELECT p.id, p.topic, p.partition, p.log_start_offset AS logStartOffset,
                COALESCE((SELECT b.last_offset + 1 FROM batches b WHERE b.partition_id = p.id ORDER BY b.base_offset DESC LIMIT 1), p.log_start_offset) AS logEndOffset,
                COALESCE((SELECT SUM(b.size) FROM batches b INDEXED BY batches_by_time WHERE b.partition_id = p.id), 0) AS bytes,
                COALESCE((SELECT MAX(b.ts_high) FROM batches b WHERE b.partition_id = p.id), 0) AS tsHigh,
                COALESCE((SELECT MAX(epoch) FROM leader_epochs e WHERE e.partition_id = p.id), -1) AS latestEpoch
           FROM partitions p ORDER BY p.topic, p.partition`,
      )
      .all() as WriterPartition[];
    this.partitions.clear();
    for (const row of rows) this.partitions.set(row.id, row);
  }

  /**
   * Creates a topic, or adds partitions to an existing one. Partitions are never removed: their
   * data and offsets would be lost, and a key's partition would change under its consumers.
   */
  createTopic(topic: string, partitions: number): PartitionState[] {
    const existing = this.db.prepare(`SELECT partitions FROM topics WHERE name = ?`).pluck().get(topic) as
      | number
      | undefined;
    if (existing !== undefined && partitions < existing) {
      throw new TopicConflictError(
        `topic '${topic}' has ${existing} partitions on disk; it cannot shrink to ${partitions} (partitions are never removed)`,
      );
    }
    if (existing === undefined || partitions > existing) {
      this.db.transaction(() => {
        if (existing === undefined) this.insertTopic.run(topic, partitions, Date.now());
        else this.db.prepare(`UPDATE topics SET partitions = ? WHERE name = ?`).run(partitions, topic);
        for (let p = existing ?? 0; p < partitions; p++) this.insertPartition.run(topic, p);
      })();
      this.loadStates();
    }
    return this.states().filter((s) => s.topic === topic);
  }

  /**
   * Appends a group of batches in one transaction (one fsync under `durability: fsync`): offsets
   * are assigned here, so they stay dense even when a group fails and is rolled back.
   */
  appendGroup(requests: readonly AppendRequest[], beforeCommit?: (entries: StagedEntry[]) => void): Array<AppendResult | AppendRefusal> {
    const before = new Map<number, WriterPartition>();
    const seqBefore = this.lastSeq;
    let producersTouched = false;
    try {
      return this.db.transaction(() => {
        const results = requests.map((req) => {
          const state = this.partition(req.partitionId);
          if (!before.has(state.id)) before.set(state.id, { ...state });
          producersTouched ||= req.client === true;
          try {
            return this.appendOne(state, req);
          } catch (err) {
            // Decided before anything of this request was written: only it fails.
            if (err instanceof OutOfOrderSequenceError || err instanceof ProducerFencedError) return err;
            throw err;
          }
        });
        // Every row is written, the COMMIT (and its fsync) comes next: the stored bytes of the
        // new rows, for a replication leader to serve while it syncs (Raft, section 10.2.1).
        if (beforeCommit !== undefined) beforeCommit(this.stagedRows(requests, results, seqBefore));
        return results;
      })();
    } catch (err) {
      for (const [id, saved] of before) this.partitions.set(id, saved);
      this.lastSeq = seqBefore;
      if (producersTouched) this.producers.load(); // the table was rolled back with the batches
      throw err;
    }
  }

  /** The rows a group wrote (positions after `seqBefore`, in order): each request's batch as stored. */
  private stagedRows(requests: readonly AppendRequest[], results: ReadonlyArray<AppendResult | AppendRefusal>, seqBefore: number): StagedEntry[] {
    const staged: StagedEntry[] = [];
    let seq = seqBefore;
    for (let i = 0; i < requests.length; i++) {
      const result = results[i]!;
      if (result instanceof OutOfOrderSequenceError || result instanceof ProducerFencedError || result.duplicate) continue;
      const req = requests[i]!;
      staged.push({ seq: ++seq, partitionId: req.partitionId, epoch: req.leaderEpoch, batch: req.batch });
    }
    return staged;
  }

  private appendOne(state: WriterPartition, req: AppendRequest): AppendResult {
    const key = req.idempotenceKey;
    if (key !== undefined) {
      const held = this.selectKey.get(key.producer, key.sequence) as { baseOffset: number; lastOffset: number } | undefined;
      if (held !== undefined) return { ...held, duplicate: true, state: publicState(state) };
    }
    const batch = Buffer.from(req.batch.buffer, req.batch.byteOffset, req.batch.byteLength);
    const header = readBatchHeader(batch, false); // written, or for a client's batch checked, on the main thread
    const idempotent = req.client === true && header.producerId >= 0;
    if (idempotent) {
      const stored = this.producers.check(state.id, state.topic, state.partition, header);
      if (stored !== null) return { baseOffset: stored.baseOffset, lastOffset: stored.lastOffset, duplicate: true, state: publicState(state) };
    }
    const baseOffset = state.logEndOffset;
    const lastOffset = baseOffset + header.lastOffsetDelta;
    this.noteEpoch(state, req.leaderEpoch, baseOffset);
    // Both fields sit outside the CRC (see record-batch.ts), so patching them keeps the batch valid.
    batch.writeBigInt64BE(BigInt(baseOffset), BASE_OFFSET_POSITION);
    batch.writeInt32BE(req.leaderEpoch, LEADER_EPOCH_POSITION);
    const tsHigh = Math.max(state.tsHigh, header.maxTimestamp);
    this.insertBatch.run(++this.lastSeq, state.id, baseOffset, lastOffset, header.maxTimestamp, tsHigh, req.leaderEpoch, batch.length, batch);
    state.logEndOffset = lastOffset + 1;
    state.bytes += batch.length;
    state.tsHigh = tsHigh;
    if (key !== undefined) this.insertKey.run(key.producer, key.sequence, state.id, baseOffset, lastOffset);
    if (idempotent) this.producers.record(state.id, header, baseOffset, lastOffset);
    return { baseOffset, lastOffset, duplicate: false, state: publicState(state) };
  }

  /**
   * Appends batches exactly as another log stored them: their offsets and leader epoch kept, the
   * CRC verified, in one transaction. For copying stored batches between logs (salvage; a
   * follower's fetched batches). Offsets only move forward: with `contiguous` (a follower) each
   * batch must start exactly at the log end (else OffsetMismatchError); without (salvage) a batch
   * may start after it (the offsets between are missing, and reads report them as such) but never
   * inside the log. Epochs never go back (StaleEpochError); a batch of a newer epoch records where
   * that epoch starts in the leader-epoch cache. Throws CorruptBatchError for a batch that fails
   * its checks; nothing of the call is stored after any error.
   */
  appendStored(partitionId: number, batches: readonly Buffer[], options: { contiguous?: boolean } = {}): AppendResult[] {
    const state = this.partition(partitionId);
    const saved = { ...state };
    const seqBefore = this.lastSeq;
    try {
      return this.db.transaction(() => batches.map((batch) => this.appendStoredOne(state, batch, options.contiguous === true, this.lastSeq + 1)))();
    } catch (err) {
      Object.assign(state, saved);
      this.lastSeq = seqBefore;
      throw err;
    }
  }

  /**
   * A follower's append of replication-log entries (the leader's batches, each at the leader's
   * position `seq`, in order) across partitions, in one transaction: all or nothing, one fsync.
   * Each batch is checked as appendStored checks it (CRC, starts at its partition's log end, epoch
   * never back); each seq must be above the last one stored (OffsetMismatchError otherwise).
   * One exception to "starts at the log end": a partition that holds nothing (a follower with an
   * empty disk, or whose own retention emptied it) starts at its first batch's base offset when that
   * is beyond its end. The leader's retention deleted what came before, so the leader's first entry
   * of the partition is at the leader's log start, and the follower begins there, at the same
   * offsets (Kafka's follower does the same on OFFSET_OUT_OF_RANGE: truncateFullyAndStartAt).
   * The same for a partition that holds batches but lags behind the leader's retention:
   * `leaderLogStarts` (partition id to the leader's log start offset, sent with the entries) says
   * the leader no longer holds this partition's log end; then, and only then, its batches are
   * deleted and it begins at the first batch the leader sent (truncateFullyBehindLeader). A gap the
   * leader's log start does not explain is still refused.
   */
  appendEntries(entries: readonly { partitionId: number; seq: number; batch: Buffer }[], leaderLogStarts: ReadonlyMap<number, number> = new Map()): PartitionState[] {
    const before = new Map<number, WriterPartition>();
    const seqBefore = this.lastSeq;
    let truncated = false;
    try {
      this.db.transaction(() => {
        for (const entry of entries) {
          const state = this.partition(entry.partitionId);
          if (!before.has(state.id)) before.set(state.id, { ...state });
          if (!Number.isSafeInteger(entry.seq) || entry.seq <= this.lastSeq) {
            throw new OffsetMismatchError(state.topic, state.partition, this.lastSeq + 1, entry.seq, `a replicated entry must come after the last position ${this.lastSeq}, not at ${entry.seq}`);
          }
          truncated = this.truncateFullyBehindLeader(state, entry.batch, leaderLogStarts.get(state.id)) || truncated;
          this.startEmptyAtLeaderStart(state, entry.batch);
          const stored = this.appendStoredOne(state, entry.batch, true, entry.seq);
          // The leader's key travels in the batch (idempotence-header.ts): held here with it. It
          // replaces a key of the same name still held here, whose release the leader had.
          const key = keyOfBatch(entry.batch);
          if (key !== null) this.replaceKey.run(key.producer, key.sequence, state.id, stored.baseOffset, stored.lastOffset);
          if (state.topic === KEY_RELEASES_TOPIC) for (const r of releasesOfBatch(entry.batch)) this.releaseKeys(r.producer, r.sequence);
        }
      })();
    } catch (err) {
      for (const [id, saved] of before) this.partitions.set(id, saved);
      this.lastSeq = seqBefore;
      throw err;
    } finally {
      if (truncated) this.producers.load(); // committed or rolled back: the table as it is now
    }
    return [...before.keys()].map((id) => publicState(this.partition(id)));
  }

  /**
   * Removes every replication-log entry after position `seq`: in each partition, its batches from
   * the first one stored after `seq` (truncateTo, one transaction per partition; a crash between
   * two leaves entries after `seq` that a repeat removes). For a follower whose tail diverged.
   */
  truncateEntriesAfter(seq: number): PartitionState[] {
    const cuts = this.db
      .prepare(`SELECT partition_id AS partitionId, MIN(base_offset) AS offset FROM batches WHERE id > ? GROUP BY partition_id`)
      .all(seq) as { partitionId: number; offset: number }[];
    for (const cut of cuts) this.truncateTo(cut.partitionId, cut.offset);
    this.loadLastSeq();
    return cuts.map((cut) => publicState(this.partition(cut.partitionId)));
  }

  /**
   * See appendEntries: a partition whose next batch from the leader starts beyond its log end,
   * while the leader's log start is beyond that end too (the leader's retention deleted offsets
   * this node never fetched), is emptied in this transaction: batches, idempotence keys, producer
   * batches, leader epochs. startEmptyAtLeaderStart then begins it at that batch. Kafka's follower
   * on OFFSET_OUT_OF_RANGE below the leader's log start: truncateFullyAndStartAt. true: emptied.
   */
  private truncateFullyBehindLeader(state: WriterPartition, batch: Buffer, leaderLogStart: number | undefined): boolean {
    if (leaderLogStart === undefined || leaderLogStart <= state.logEndOffset || batch.length < 8) return false;
    if (state.bytes === 0 && state.logEndOffset === state.logStartOffset) return false; // holds nothing: startEmptyAtLeaderStart
    const baseOffset = Number(batch.readBigInt64BE(0)); // a RecordBatch begins with its int64 baseOffset
    if (!Number.isSafeInteger(baseOffset) || baseOffset <= state.logEndOffset) return false;
    const from = state.logStartOffset;
    this.deleteFrom.run(state.id, from);
    this.deleteKeysFrom.run(state.id, from);
    dropProducerBatchesFrom(this.db, state.id, from);
    this.lowerRecoveryPoint.run(from, state.id);
    rebuildLeaderEpochs(this.db, state.id, 0); // no batches left: no epochs
    state.logEndOffset = state.logStartOffset; // holds nothing now
    state.bytes = 0;
    state.latestEpoch = -1;
    return true;
  }

  /** See appendEntries: an empty partition begins where the leader's first batch of it begins. */
  private startEmptyAtLeaderStart(state: WriterPartition, batch: Buffer): void {
    if (state.bytes > 0 || state.logEndOffset !== state.logStartOffset || batch.length < 8) return;
    const baseOffset = Number(batch.readBigInt64BE(0)); // a RecordBatch begins with its int64 baseOffset
    if (!Number.isSafeInteger(baseOffset) || baseOffset <= state.logEndOffset) return;
    this.setLogStart.run(baseOffset, state.id);
    state.logStartOffset = baseOffset;
    state.logEndOffset = baseOffset;
  }

  private appendStoredOne(state: WriterPartition, batch: Buffer, contiguous: boolean, seq: number): AppendResult {
    let header;
    try {
      header = readBatchHeader(batch, true);
    } catch (err) {
      if (err instanceof BatchFormatError) throw new CorruptBatchError(state.topic, state.partition, state.logEndOffset, err.message);
      throw err;
    }
    const baseOffset = header.baseOffset;
    const lastOffset = baseOffset + header.lastOffsetDelta;
    if (contiguous && baseOffset !== state.logEndOffset) {
      throw new OffsetMismatchError(state.topic, state.partition, state.logEndOffset, baseOffset, `a follower's batch must start at the log end offset ${state.logEndOffset}, not at ${baseOffset}`);
    }
    if (baseOffset < state.logEndOffset) {
      throw new CorruptBatchError(state.topic, state.partition, baseOffset, `a stored batch must start at or after the log end ${state.logEndOffset}`, lastOffset);
    }
    this.noteEpoch(state, header.partitionLeaderEpoch, baseOffset);
    const tsHigh = Math.max(state.tsHigh, header.maxTimestamp);
    this.insertBatch.run(seq, state.id, baseOffset, lastOffset, header.maxTimestamp, tsHigh, header.partitionLeaderEpoch, batch.length, batch);
    this.lastSeq = seq;
    state.logEndOffset = lastOffset + 1;
    state.bytes += batch.length;
    state.tsHigh = tsHigh;
    return { baseOffset, lastOffset, duplicate: false, state: publicState(state) };
  }

  /** A batch of `epoch` goes in at `baseOffset`: epochs never go back; a new one starts here (same transaction). */
  private noteEpoch(state: WriterPartition, epoch: number, baseOffset: number): void {
    if (epoch < state.latestEpoch) throw new StaleEpochError(state.topic, state.partition, state.latestEpoch, epoch);
    if (epoch === state.latestEpoch) return;
    this.insertEpoch.run(state.id, epoch, baseOffset);
    state.latestEpoch = epoch;
  }

  /**
   * Removes the partition's tail from `offset` on, in one transaction: its batches, their
   * idempotence keys and the leader epochs that start there; the log end moves back to `offset`.
   * `offset` must be a batch boundary (a batch's base offset, or the log end; at or above the log
   * end nothing happens): inside a batch it throws OffsetMismatchError naming the boundaries
   * around it. Below the log start it throws too (retention already removed those offsets).
   */
  truncateTo(partitionId: number, offset: number): PartitionState {
    const state = this.partition(partitionId);
    if (!Number.isSafeInteger(offset) || offset < state.logStartOffset) {
      throw new OffsetMismatchError(state.topic, state.partition, state.logStartOffset, offset, `cannot truncate to ${offset}, below the log start offset ${state.logStartOffset}`);
    }
    if (offset >= state.logEndOffset) return publicState(state);
    const holding = this.batchAtOrBelow.get(state.id, offset) as { baseOffset: number; lastOffset: number } | undefined;
    if (holding !== undefined && holding.baseOffset !== offset && holding.lastOffset >= offset) {
      throw new OffsetMismatchError(
        state.topic,
        state.partition,
        holding.baseOffset,
        offset,
        `cannot truncate to ${offset}: it is inside the batch ${holding.baseOffset}..${holding.lastOffset}; the nearest batch boundaries are ${holding.baseOffset} and ${holding.lastOffset + 1}`,
      );
    }
    this.db.transaction(() => {
      this.deleteFrom.run(state.id, offset);
      this.deleteKeysFrom.run(state.id, offset);
      dropProducerBatchesFrom(this.db, state.id, offset);
      // Recovery re-verifies appends made from here on after an unclean stop.
      this.lowerRecoveryPoint.run(offset, state.id);
      rebuildLeaderEpochs(this.db, state.id, offset); // no batches from `offset` on: drops the epochs starting there
    })();
    this.loadStates();
    this.loadLastSeq();
    this.producers.load();
    return publicState(this.partition(partitionId));
  }

  /** Sets where a partition's offsets start (a copy of another log keeps that log's start). */
  setLogStartOffset(partitionId: number, offset: number): void {
    const state = this.partition(partitionId);
    if (state.bytes > 0 || state.logEndOffset !== state.logStartOffset) throw new Error(`partition ${state.topic}-${state.partition} is not empty`);
    this.setLogStart.run(offset, partitionId);
    state.logStartOffset = offset;
    state.logEndOffset = offset;
  }

  /**
   * The next producer id for InitProducerId, committed before it is handed out, so no id is handed
   * out twice, even after a crash (a commit lost to a power cut under a relaxed durability takes
   * every later commit with it, and with them any batch of that producer).
   */
  allocateProducerId(): number {
    return this.db.transaction(() => {
      const next = Number((this.db.prepare(`SELECT value FROM meta WHERE key = 'next_producer_id'`).pluck().get() as string | undefined) ?? '0');
      this.setMeta('next_producer_id', String(next + 1));
      return next;
    })();
  }

  /** Releases one idempotence key, or all of a producer's. Returns how many were held. */
  releaseKeys(producer: string, sequence: number | null): number {
    const result = sequence === null ? this.deleteProducerKeys.run(producer) : this.deleteKey.run(producer, sequence);
    return result.changes;
  }

  /**
   * Deletes whole batches from the oldest end of each partition, as the policies ask. A byte cap
   * counts the disk the partition takes, not only its batch bytes, so that caps bound the file.
   */
  applyRetention(policies: readonly RetentionPolicy[]): RetentionResult {
    const ratio = this.diskBytesPerStoredByte();
    const result: RetentionResult = { batchesDeleted: 0, recordsDeleted: 0, bytesDeleted: 0, states: [], diskBytesPerStoredByte: ratio };
    const cuts = new Map<WriterPartition, HeadCut>();
    for (const policy of policies) {
      const state = this.partition(policy.partitionId);
      const cut = this.retentionCut(state, policy, ratio ?? 1);
      if (cut.batches > 0) cuts.set(state, cut);
    }
    this.cutHeads(cuts, result);
    return result;
  }

  /**
   * Frees about `diskBytes` of disk (batch bytes times the disk ratio) by deleting the oldest
   * batches of the whole log, in the order they were appended, but only batches wholly below their
   * partition's floor (`floors`: partition id -> offset; a partition without one has none). A
   * partition stops at its first batch at or above its floor. For the disk budget.
   */
  reclaim(diskBytes: number, floors: ReadonlyMap<number, number>): ReclaimResult {
    const ratio = this.diskBytesPerStoredByte();
    const cuts = new Map<WriterPartition, HeadCut>();
    const stopped = new Set<number>();
    // Pages freed before (and not yet returned by the vacuum steps) count as freed already.
    let freed = (this.freePages.get() as number) * this.pageSize;
    for (const row of this.inAppendOrder.iterate() as Iterable<BatchRow & { partitionId: number }>) {
      if (freed >= diskBytes || stopped.size === this.partitions.size) break;
      if (stopped.has(row.partitionId)) continue;
      if (row.lastOffset >= (floors.get(row.partitionId) ?? Infinity)) {
        stopped.add(row.partitionId);
        continue;
      }
      const state = this.partition(row.partitionId);
      const cut = cuts.get(state) ?? { newLogStart: state.logStartOffset, batches: 0, bytes: 0 };
      cuts.set(state, { newLogStart: row.lastOffset + 1, batches: cut.batches + 1, bytes: cut.bytes + row.size });
      freed += row.size * (ratio ?? 1);
    }
    const result: ReclaimResult = { batchesDeleted: 0, recordsDeleted: 0, bytesDeleted: 0, states: [], diskBytesPerStoredByte: ratio, shortBytes: Math.max(0, Math.ceil(diskBytes - freed)) };
    this.cutHeads(cuts, result);
    return result;
  }

  /** Deletes each partition's batches below its cut's new log start, in one transaction. */
  private cutHeads(cuts: ReadonlyMap<WriterPartition, HeadCut>, result: RetentionResult): void {
    this.db.transaction(() => {
      // The newest entry's position and epoch outlive it, should this pass delete it (an idle log
      // past its age): positions go on from there, and a replica's position stays what it was.
      if (cuts.size > 0) {
        const newest = this.db.prepare(`SELECT id AS seq, leader_epoch AS epoch FROM batches ORDER BY id DESC LIMIT 1`).get() as { seq: number; epoch: number } | undefined;
        if (newest !== undefined) this.setMeta('last_entry', `${newest.seq}:${newest.epoch}`);
      }
      for (const [state, cut] of cuts) {
        this.deleteBelow.run(state.id, cut.newLogStart);
        this.setLogStart.run(cut.newLogStart, state.id);
        result.batchesDeleted += cut.batches;
        result.recordsDeleted += cut.newLogStart - state.logStartOffset;
        result.bytesDeleted += cut.bytes;
        // An epoch whose batches are all gone leaves the cache; the oldest left starts at the log start.
        trimLeaderEpochs(this.db, state.id, cut.newLogStart);
        dropUnretainedProducers(this.db, state.id, cut.newLogStart);
      }
    })();
    if (cuts.size > 0) this.producers.load();
    // The transaction committed: only now do the writer's own figures move.
    for (const [state, cut] of cuts) {
      state.logStartOffset = cut.newLogStart;
      state.bytes -= cut.bytes;
      state.latestEpoch = this.latestEpoch.get(state.id) as number;
      result.states.push(publicState(state));
    }
  }

  /**
   * The disk bytes the batches take per batch byte: their pages (rows, fill, the two indexes, the
   * auto-vacuum pointer maps) over the bytes of the batches in them. Measured, not assumed: it is
   * about 1.03 for 100 KB batches and 1.2-1.4 for batches of a few KB or less (docs/disk.md). The
   * pages of the other tables (small) are left out; below MIN_MEASURED_BYTES of batches the
   * figure would be dominated by the file's fixed pages: null (not measured), and cuts take 1.
   */
  diskBytesPerStoredByte(): number | null {
    let stored = 0;
    for (const s of this.partitions.values()) stored += s.bytes;
    if (stored < MIN_MEASURED_BYTES) return null;
    const used = ((this.pageCount.get() as number) - (this.freePages.get() as number)) * this.pageSize;
    let others = 0;
    for (const name of this.smallTrees.all() as string[]) others += (this.treeBytes.get(name) as number | undefined) ?? 0;
    return Math.min(MAX_DISK_RATIO, Math.max(1, (used - others) / stored));
  }

  private retentionCut(state: WriterPartition, policy: RetentionPolicy, diskRatio: number): HeadCut {
    let remaining = state.bytes;
    let newLogStart = state.logStartOffset;
    let batches = 0;
    let bytes = 0;
    for (const row of this.selectOldest.iterate(state.id) as Iterable<BatchRow>) {
      const tooOld = policy.deleteBeforeTimestamp !== null && row.maxTimestamp < policy.deleteBeforeTimestamp;
      const tooBig = policy.maxBytes !== null && remaining * diskRatio > policy.maxBytes;
      if (!tooOld && !tooBig) break;
      remaining -= row.size;
      bytes += row.size;
      batches++;
      newLogStart = row.lastOffset + 1;
    }
    return { newLogStart, batches, bytes };
  }

  /**
   * Returns up to `maxPages` of the file's free pages beyond `keepPages` to the file system
   * (incremental vacuum: pages from the end of the file move into the free ones, then the file is
   * cut). The pages kept are reused by the next appends without moving anything. Returns how many
   * pages went: fewer than `maxPages` means none beyond `keepPages` are left.
   */
  returnFreePages(keepPages: number, maxPages: number): number {
    const pages = Math.min((this.freePages.get() as number) - keepPages, maxPages);
    if (pages <= 0) return 0;
    this.db.pragma(`incremental_vacuum(${pages})`);
    return pages;
  }

  /** Records a clean shutdown: everything stored so far counts as verified. */
  markClean(): void {
    this.db.transaction(() => {
      const setPoint = this.db.prepare(`UPDATE partitions SET recovery_point = ? WHERE id = ?`);
      for (const s of this.partitions.values()) setPoint.run(s.logEndOffset, s.id);
      this.setMeta('clean_shutdown', '1');
    })();
  }

  /** Returns whether the last stop was clean, and marks the log as running. */
  markRunning(): boolean {
    const clean = this.db.prepare(`SELECT value FROM meta WHERE key = 'clean_shutdown'`).pluck().get();
    this.setMeta('clean_shutdown', '0');
    // A brand-new log has nothing to recover.
    return clean === '1' || clean === undefined;
  }

  reload(): void {
    this.loadStates();
  }

  private setMeta(key: string, value: string): void {
    this.db.prepare(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(key, value);
  }

  private partition(id: number): WriterPartition {
    const state = this.partitions.get(id);
    if (state === undefined) throw new Error(`writer has no partition with id ${id}`);
    return state;
  }
}

/** Below this many bytes of batches, the fixed pages of the file hide the batches' own overhead. */
const MIN_MEASURED_BYTES = 4 * 1024 * 1024;
/** A bound on the measured figure, so that a mismeasurement cannot empty a partition. */
const MAX_DISK_RATIO = 3;

/** Where a partition's head is cut: its new log start, and the batches and bytes that go. */
interface HeadCut {
  newLogStart: number;
  batches: number;
  bytes: number;
}

interface BatchRow {
  baseOffset: number;
  lastOffset: number;
  maxTimestamp: number;
  size: number;
}

function publicState(s: WriterPartition): PartitionState {
  return {
    id: s.id,
    topic: s.topic,
    partition: s.partition,
    logStartOffset: s.logStartOffset,
    logEndOffset: s.logEndOffset,
    bytes: s.bytes,
    latestEpoch: s.latestEpoch,
  };
}

