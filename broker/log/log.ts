// The edge commit log: topics of partitions of records, stored as Kafka record batches in one
// SQLite file in the data directory. Appends go to the writer thread (group commit); reads run
// here on a read-only connection. Knows nothing of MQTT or Kafka clients.
import { setMaxListeners } from 'node:events';
import { existsSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { DiskBudget, NO_DISK_BUDGET, type DiskBudgetSpec, type DiskBudgetStatus, type ReclaimOutcome } from './disk-budget.js';
import { type CorruptBatchError, DiskBudgetError, DataDirError, NotLeaderError, StaleEpochError, DiskFullError, InvalidRecordError, LogClosedError, ReadOnlyStorageError, StorageError, TributaryError, UnknownPartitionError, UnknownTopicError } from '../errors.js';
import { KEY_RELEASES_TOPIC, keyHeader, releaseValue } from './idempotence-header.js';
import { BatchReader, type EntryPosition, type EpochStart, type LogStartOffset, type StoredEntry } from './batch-reader.js';
import { DataDirLock } from './data-dir-lock.js';
import { type Isolation, Partition, type RawBatch, type ReadOptions, type ReadResult } from './partition.js';
import { encodeBatch, type RecordInput } from './record-batch.js';
import { checkClientBatch } from './client-batch.js';
import type { CorruptBatchObservation, LogObserver } from './log-observer.js';
import { ReadAhead } from './read-ahead.js';
import { DATABASE_FILE } from './schema.js';
import { damaged, isSqliteCorruption } from './sqlite-errors.js';
import { isTopicName, TOPIC_NAME_RULE } from './topic-name.js';
import { LogWriter } from './writer.js';
import type { Durability, IdempotenceKey, PartitionState, RecoveryReport, RetentionPolicy, RetentionResult } from './writer-protocol.js';

export type { Durability, IdempotenceKey } from './writer-protocol.js';
export type { Isolation } from './partition.js';
export type { EntryPosition, EpochStart, LogStartOffset, StoredEntry } from './batch-reader.js';

/**
 * Where a partition's high watermark may go now that its durable log end is `partition.logEndOffset`:
 * the offset below which records are committed. Asked each time the writer reports a partition's
 * offsets (an append became durable, a topic was created or grown, retention ran).
 */
export type CommitPolicy = (partition: Partition) => number;

/** A single node: what is durable is committed (replication will hold this back to what a quorum holds). */
export const singleNodeCommit: CommitPolicy = (partition) => partition.logEndOffset;

/** Replication: durable is not committed; the high watermark moves only by commitEntries (what a quorum holds). */
export const replicatedCommit: CommitPolicy = (partition) => partition.highWatermark;
export type { CorruptBatchObservation, LogObserver } from './log-observer.js';

export interface RetentionSpec {
  /** Delete batches whose newest record is older than this many ms; null keeps them. */
  maxAgeMs: number | null;
  /** Delete the oldest batches while a partition holds more than this many bytes; null = no cap. */
  maxBytes: number | null;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  retention?: RetentionSpec;
}

export interface LogOptions {
  dataDir: string;
  /** When an append resolves; see docs/durability.md. Default 'fsync'. */
  durability?: Durability;
  /** For durability 'interval': the longest a commit waits for its fsync. Default 1000 ms. */
  fsyncIntervalMs?: number;
  /**
   * How long a group commit waits, after an append arrives at an idle writer, for more appends to
   * share its fsync (docs/performance.md). Default 0: it commits at once.
   */
  commitDelayMs?: number;
  topics?: readonly TopicSpec[];
  /** Retention for topics created without their own (for example on first publish). */
  defaultRetention?: RetentionSpec;
  logger?: Logger;
  /** Told of appends, group commits and retention runs (metrics). */
  observer?: LogObserver;
  /** When records are committed (the high watermark). Default singleNodeCommit; tests hold it back. */
  commitPolicy?: CommitPolicy;
  /** The data directory's disk budget (see disk-budget.ts). Default none. */
  diskBudget?: DiskBudgetSpec;
  /**
   * The offset below which a partition's records have been forwarded upstream: only those may go
   * early when the disk budget bites. null: the partition is not forwarded, any of it may go.
   * Absent: nothing is forwarded (no upstream), any record may go.
   */
  forwardedBelow?: (topic: string, partition: number) => number | null;
  /**
   * 'committed': append and appendBatch resolve only once the partition's high watermark covers
   * the batch (replication: a quorum has it fsynced), and reject with NotLeaderError if appends
   * are refused meanwhile (refuseAppends). Default 'durable': once the batch is durable here.
   */
  acknowledge?: 'durable' | 'committed';
  /**
   * Whether what the log holds when it is opened counts as committed (the high watermarks start
   * at the log ends). Default true; replication passes false: its high watermarks start at the log
   * starts and move with commitEntries.
   */
  committedOnOpen?: boolean;
  /**
   * A replication leader's: each group's entries are readable by readEntries (and counted by
   * lastAppendedEntry, lastEntryAtOrBelowEpoch) as soon as the writer has written them, before
   * their commit and fsync, so followers fetch them while the leader syncs (Raft, section 10.2.1).
   * lastEntry stays the durable end (a leader counts its own copy only once fsynced). A group that
   * then fails to commit refuses appends until a new leader epoch (onEntriesLost). Default false.
   */
  stageBeforeSync?: boolean;
  /**
   * Whether a keyed append carries its idempotence key in its batch (idempotence-header.ts), so
   * that followers hold it too. Default false; replication passes true.
   */
  keysInBatches?: boolean;
}

export interface AppendInfo {
  topic: string;
  partition: number;
  baseOffset: number;
  lastOffset: number;
  /** The idempotence key was held: nothing new was stored; the offsets are where it was stored. */
  duplicate: boolean;
}

export interface AppendOptions {
  /**
   * Stores the batch at most once while this key is held, even across crashes: the key is written
   * in the same transaction as the batch. Release it with releaseIdempotenceKeys.
   */
  idempotenceKey?: IdempotenceKey;
}

export interface TopicInfo {
  name: string;
  partitions: PartitionInfo[];
}

export interface PartitionInfo {
  partition: number;
  logStartOffset: number;
  logEndOffset: number;
  /** Records below it are committed (readers see up to here). */
  highWatermark: number;
  bytes: number;
}

const MAX_CORRUPT_KEPT = 256;
/** commitEntries reads the rows of at most this many newly committed entries; past it, each partition's tail. */
const ENTRIES_SCANNED_AT_MOST = 10_000;
const CAP_SLACK_MIN_BYTES = 1024 * 1024;
const NO_RETENTION: RetentionSpec = { maxAgeMs: null, maxBytes: null };

export class Log {
  private readonly topicPartitions = new Map<string, Partition[]>();
  private readonly retention = new Map<string, RetentionSpec>();
  /**
   * The file's disk bytes per batch byte at the last retention pass that could measure it (byte
   * caps count disk). Until then the most it is taken to be, so that the first pass at a crossed
   * cap comes early rather than after the file has grown past the cap (see MAX_DISK_RATIO).
   */
  private diskBytesPerStoredByte = 3;
  private budget: DiskBudget | null = null;
  /** A retention pass started because a partition crossed its byte cap (one at a time). */
  private capPass: Promise<unknown> | null = null;
  /** Corrupt batches reads have met, by topic-partition@offset (bounded: see noteCorrupt). */
  private readonly corrupt = new Map<string, CorruptBatchObservation>();
  private closing: Promise<void> | null = null;
  private readonly partitionListeners = new Set<() => void>();
  /** The current leader epoch of each partition (by id), stamped into leader appends. */
  private readonly leaderEpochs = new Map<number, number>();
  /** The cluster epoch a replication leader stamps into every partition's appends (becomeClusterLeader). */
  private epochFloor = 0;
  /** Why leader appends are refused now (a replication follower); null: they are taken. */
  private refusal: string | null = null;
  /** Aborted when appends become refused: appends waiting to be committed then fail. */
  private leadership = leadershipController();
  /** Replication-log position up to which the high watermarks have been moved (commitEntries). */
  private committed = 0;
  /** Batches read ahead for sequential readers, all partitions' within one bound (read-ahead.ts). */
  private readonly ahead = new ReadAhead();
  private readonly partitionsById = new Map<number, Partition>();
  /** Entries written but not yet known committed (stageBeforeSync), in position order. */
  private unsynced: StoredEntry[] = [];
  private readonly stagedListeners = new Set<() => void>();
  private readonly lostListeners = new Set<(reason: string) => void>();

  private constructor(
    readonly dataDir: string,
    private readonly writer: LogWriter,
    private readonly reader: BatchReader,
    private readonly lock: DataDirLock,
    private readonly options: LogOptions,
    readonly recovery: RecoveryReport | null,
  ) {}

  /** Opens (creating if needed) the log in `options.dataDir`; runs recovery after an unclean stop. */
  static async open(options: LogOptions): Promise<Log> {
    const dataDir = resolve(options.dataDir);
    let lock: DataDirLock;
    try {
      mkdirSync(dataDir, { recursive: true });
      lock = DataDirLock.acquire(dataDir);
    } catch (err) {
      throw fileSystemError(err, dataDir);
    }
    let writer: LogWriter | undefined;
    try {
      const started = await LogWriter.start({
        dataDir,
        databaseFile: join(dataDir, DATABASE_FILE),
        durability: options.durability ?? 'fsync',
        fsyncIntervalMs: options.fsyncIntervalMs ?? 1000,
        commitDelayMs: options.commitDelayMs ?? 0,
        stageBeforeSync: options.stageBeforeSync === true,
      });
      writer = started.writer;
      const observer = options.observer;
      if (observer?.committed !== undefined) writer.onCommit = (commit) => observer.committed!(commit);
      const log = new Log(dataDir, writer, new BatchReader(join(dataDir, DATABASE_FILE)), lock, options, started.ready.recovery);
      if (options.stageBeforeSync === true) {
        writer.onStaged = (entries) => log.staged(entries);
        writer.onSettled = (lastSeq) => log.settled(lastSeq);
        writer.onStagedLost = (fromSeq, epoch) => log.stagedLost(fromSeq, epoch);
      }
      log.adopt(started.ready.states);
      log.reportRecovery();
      log.budget = new DiskBudget({
        dataDir,
        spec: options.diskBudget ?? NO_DISK_BUDGET,
        reclaim: (diskBytes) => log.reclaim(diskBytes),
        logger: options.logger,
      });
      for (const note of started.ready.notes) options.logger?.warn({ dataDir }, `log layout upgraded: ${note}`);
      for (const topic of options.topics ?? []) await log.createTopic(topic.name, topic.partitions, topic.retention);
      return log;
    } catch (err) {
      await writer?.close().catch(() => undefined);
      lock.release();
      // The read connection met a damaged schema or page while the log was being opened.
      throw isSqliteCorruption(err) ? damaged(err, dataDir) : err;
    }
  }

  /** Creates a topic, or grows an existing one to `partitions`. Idempotent. */
  async createTopic(name: string, partitions: number, retention?: RetentionSpec): Promise<void> {
    if (!isTopicName(name)) {
      throw new InvalidRecordError(`topic name '${name}' must be ${TOPIC_NAME_RULE}`);
    }
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 10_000) {
      throw new InvalidRecordError(`topic '${name}': partitions must be an integer from 1 to 10000, got ${partitions}`);
    }
    this.adopt(await this.writer.createTopic(name, partitions));
    this.retention.set(name, retention ?? this.options.defaultRetention ?? NO_RETENTION);
  }

  topics(): TopicInfo[] {
    return [...this.topicPartitions.entries()]
      // By code unit, not localeCompare: the same order everywhere, and no ICU collation data
      // paged in (a few MB of resident memory) for a list of topic names.
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, parts]) => ({ name, partitions: parts.map(partitionInfo) }));
  }

  partitionCount(topic: string): number {
    return this.partitionsOf(topic).length;
  }

  partition(topic: string, partition: number): Partition {
    const parts = this.partitionsOf(topic);
    const found = parts[partition];
    if (found === undefined) throw new UnknownPartitionError(topic, partition, parts.length);
    return found;
  }

  /**
   * Appends records as one batch. Resolves once the batch is durable under the configured
   * durability, with the offsets it got. Appends resolve in the order they were made.
   */
  async append(topic: string, partition: number, records: readonly RecordInput[], options: AppendOptions = {}): Promise<AppendInfo> {
    const target = this.partition(topic, partition);
    validateRecords(records);
    if (this.refusal !== null) throw new NotLeaderError(this.refusal);
    const leadership = this.leadership.signal;
    if (this.budget?.held === true) throw new DiskBudgetError(this.dataDir, this.budget.reason());
    const started = performance.now();
    const key = options.idempotenceKey;
    const batch = encodeBatch(key !== undefined && this.options.keysInBatches === true ? withKeyHeader(records, key) : records);
    const bytes = batch.byteLength; // the batch's buffer is transferred to the writer thread
    const result = await this.writer.append(target.id, batch, this.leaderEpoch(target), key);
    target.update(result.state);
    this.commit(target);
    this.retainIfOverCap(target);
    this.budget?.noteAppended(bytes);
    this.options.observer?.appended?.({ topic, partition, records: records.length, bytes, seconds: (performance.now() - started) / 1000 });
    await this.acknowledgeable(target, result.lastOffset, leadership);
    return { topic, partition, baseOffset: result.baseOffset, lastOffset: result.lastOffset, duplicate: result.duplicate };
  }

  /**
   * Under acknowledge 'committed', waits until the high watermark covers `lastOffset`;
   * NotLeaderError if the leadership the append was taken under (`signal`) ends first.
   */
  private async acknowledgeable(target: Partition, lastOffset: number, signal: AbortSignal): Promise<void> {
    if (this.options.acknowledge !== 'committed' || target.highWatermark > lastOffset) return;
    const committed = await target.waitFor(lastOffset, 2 ** 31 - 1, signal);
    if (!committed) throw new NotLeaderError(this.refusal ?? 'leadership ended before the append was committed');
  }

  /**
   * The leader's append of a client's RecordBatch v2 (a Kafka producer's), stored as sent: the log
   * assigns the offsets by patching baseOffset and partitionLeaderEpoch, both outside the CRC, and
   * keeps everything else (producer id, epoch, sequence, timestamps, records). Checked first
   * (client-batch.ts: CRC, magic 2, one batch, dense offsets, no compression, no control or
   * transactional batch): InvalidBatchError naming the problem. An idempotent batch (producerId
   * >= 0) is checked against the partition's producer state in the writer, in the transaction
   * that stores it: a retry of one of the producer's last 5 batches resolves with that batch's
   * offsets and `duplicate: true` (nothing stored); OutOfOrderSequenceError or ProducerFencedError
   * refuse it. Goes through the writer thread like append (group commit, durability policy).
   */
  async appendBatch(topic: string, partition: number, batch: Buffer): Promise<AppendInfo> {
    const target = this.partition(topic, partition);
    const header = checkClientBatch(batch);
    if (this.refusal !== null) throw new NotLeaderError(this.refusal);
    const leadership = this.leadership.signal;
    if (this.budget?.held === true) throw new DiskBudgetError(this.dataDir, this.budget.reason());
    const started = performance.now();
    const result = await this.writer.appendClient(target.id, batch, this.leaderEpoch(target));
    target.update(result.state);
    this.commit(target);
    if (!result.duplicate) {
      this.retainIfOverCap(target);
      this.budget?.noteAppended(batch.length);
      this.options.observer?.appended?.({ topic, partition, records: header.recordCount, bytes: batch.length, seconds: (performance.now() - started) / 1000 });
    }
    await this.acknowledgeable(target, result.lastOffset, leadership);
    return { topic, partition, baseOffset: result.baseOffset, lastOffset: result.lastOffset, duplicate: result.duplicate };
  }

  /** A producer id never handed out before, in this log's life (InitProducerId); durable before it resolves. */
  allocateProducerId(): Promise<number> {
    return this.writer.allocateProducerId();
  }

  /**
   * The follower's append: batches exactly as the leader stored them (Kafka RecordBatch v2 with
   * their offsets and leader epochs). Each CRC is verified and the first batch must start at the
   * log end offset, the next at the end of the one before (OffsetMismatchError naming the expected
   * and actual offsets; CorruptBatchError for a failed check; StaleEpochError for an epoch older
   * than the partition's latest). All of the call is stored in one transaction, or none of it.
   */
  async appendAsFollower(topic: string, partition: number, batches: readonly Buffer[]): Promise<AppendInfo> {
    const target = this.partition(topic, partition);
    if (batches.length === 0) throw new InvalidRecordError('a follower append needs at least one batch');
    const results = await this.writer.appendStored(target.id, batches);
    const last = results[results.length - 1]!;
    target.update(last.state);
    this.leaderEpochs.set(target.id, Math.max(this.leaderEpoch(target), last.state.latestEpoch));
    this.commit(target);
    this.retainIfOverCap(target);
    return { topic, partition, baseOffset: results[0]!.baseOffset, lastOffset: last.lastOffset, duplicate: false };
  }

  // The replication log (docs/replication.md): every stored batch of every partition, in append
  // order, at its position `seq` (the batches' rowid, the same on every replica: a follower stores
  // each batch at the leader's position). Its epochs are the batches' leader epochs.

  /** The position and epoch of the last entry; { seq: 0, epoch: -1 } for an empty log. */
  lastEntry(): EntryPosition {
    return this.reader.lastEntry();
  }

  /**
   * Entries after position `seq`, byte for byte as stored, in order, up to about `maxBytes` (at
   * least one). With stageBeforeSync, the committed ones are followed by those written but not yet
   * committed (a leader's followers fetch them while it syncs).
   */
  readEntries(afterSeq: number, maxBytes: number): StoredEntry[] {
    const entries = this.reader.entriesAfter(afterSeq, maxBytes);
    if (this.unsynced.length === 0) return entries;
    let bytes = 0;
    for (const e of entries) bytes += e.batch.length;
    let next = entries.length > 0 ? entries[entries.length - 1]!.seq + 1 : afterSeq + 1;
    // The staged entries follow the durable ones without a gap: the durable read may already hold
    // some of them (committed since), never stop short of the first.
    for (const e of this.unsynced) {
      if (e.seq < next) continue;
      if (e.seq > next || (entries.length > 0 && bytes + e.batch.length > maxBytes)) break;
      entries.push(e);
      bytes += e.batch.length;
      next++;
    }
    return entries;
  }

  /** How many partitions hold entries after position `seq`: those a replica whose log ends at `seq` lacks something of. */
  partitionsWithEntriesAfter(seq: number): number {
    return this.reader.partitionsWithEntriesAfter(seq);
  }

  /** The last entry written, committed or not (with stageBeforeSync; otherwise lastEntry). */
  lastAppendedEntry(): EntryPosition {
    const staged = this.unsynced[this.unsynced.length - 1];
    const durable = this.reader.lastEntry();
    return staged !== undefined && staged.seq > durable.seq ? { seq: staged.seq, epoch: staged.epoch } : durable;
  }

  /**
   * The last entry of the largest epoch at or below `epoch` (where that epoch ends here), entries
   * written but not yet committed included; { seq: 0, epoch: -1 } if none.
   */
  lastEntryAtOrBelowEpoch(epoch: number): EntryPosition {
    const durable = this.reader.lastEntryAtOrBelowEpoch(epoch);
    for (let i = this.unsynced.length - 1; i >= 0; i--) {
      const e = this.unsynced[i]!;
      if (e.seq <= durable.seq) break;
      if (e.epoch <= epoch) return { seq: e.seq, epoch: e.epoch };
    }
    return durable;
  }

  /** Calls `listener` when new entries are written, before their commit (stageBeforeSync). Returns the unsubscribe. */
  onEntriesStaged(listener: () => void): () => void {
    this.stagedListeners.add(listener);
    return () => this.stagedListeners.delete(listener);
  }

  /**
   * Calls `listener` when written entries failed to commit after followers could read them: appends
   * are refused (as after refuseAppends) until becomeClusterLeader starts a newer epoch, and the
   * leader should step down. Returns the unsubscribe.
   */
  onEntriesLost(listener: (reason: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  private staged(entries: readonly { seq: number; partitionId: number; epoch: number; batch: Uint8Array }[]): void {
    for (const e of entries) {
      const p = this.partitionsById.get(e.partitionId);
      if (p === undefined) break; // not adopted yet (cannot be: appends name known partitions); readEntries stops at the gap
      this.unsynced.push({ seq: e.seq, epoch: e.epoch, topic: p.topic, partition: p.partition, batch: Buffer.from(e.batch.buffer, e.batch.byteOffset, e.batch.byteLength) });
    }
    for (const listener of [...this.stagedListeners]) listener();
  }

  /** The writer's drain ended at `lastSeq`: staged entries up to it are committed (readable as stored) or were lost. */
  private settled(lastSeq: number): void {
    let n = 0;
    while (n < this.unsynced.length && this.unsynced[n]!.seq <= lastSeq) n++;
    if (n > 0) this.unsynced.splice(0, n);
  }

  private stagedLost(fromSeq: number, epoch: number): void {
    this.unsynced = this.unsynced.filter((e) => e.seq < fromSeq);
    const reason = `entries of leader epoch ${epoch} from position ${fromSeq} failed to commit after followers could fetch them`;
    this.options.logger?.error({ fromSeq, epoch }, 'staged entries failed to commit; appends wait for a new leader epoch');
    this.refuseAppends(reason);
    for (const listener of [...this.lostListeners]) listener(reason);
  }

  /**
   * The follower's append of the leader's entries, in one transaction (one fsync): each batch at
   * its partition's log end and at the leader's position, CRC checked (appendAsFollower's rules).
   * Topics and partitions the log lacks are created first. `leaderLogStarts` (the leader's log start
   * offset by topic and partition, sent with the entries) lets a partition that lags behind the
   * leader's retention begin again at the leader's log start (BatchStore.appendEntries).
   * `giveUp`: the buffer every batch is a view of, which the caller gives up (a fetch answer's,
   * transport.ts): it goes to the writer thread without a copy, and the batches read as empty then.
   */
  async appendEntries(entries: readonly StoredEntry[], leaderLogStarts: readonly LogStartOffset[] = [], giveUp?: ArrayBuffer): Promise<void> {
    if (entries.length === 0) return;
    const wanted = new Map<string, number>();
    for (const e of entries) wanted.set(e.topic, Math.max(wanted.get(e.topic) ?? 0, e.partition + 1));
    for (const [topic, partitions] of wanted) {
      const have = this.topicPartitions.get(topic)?.length ?? 0;
      if (have < partitions) await this.createTopic(topic, partitions, this.retention.get(topic));
    }
    const starts = new Map<number, number>();
    for (const s of leaderLogStarts) if (this.topicPartitions.get(s.topic)?.[s.partition] !== undefined) starts.set(this.partition(s.topic, s.partition).id, s.logStartOffset);
    const states = await this.writer.appendEntries(
      entries.map((e) => ({ partitionId: this.partition(e.topic, e.partition).id, seq: e.seq, batch: e.batch })),
      starts,
      giveUp,
    );
    for (const state of states) {
      const target = this.partition(state.topic, state.partition);
      if (target.logEndOffset > target.logStartOffset && state.logStartOffset > target.logEndOffset) {
        // It held batches and now begins past them: emptied behind the leader's log start.
        const { topic, partition } = state;
        this.options.logger?.warn({ topic, partition, logEnd: target.logEndOffset, leaderLogStart: state.logStartOffset }, "follower partition behind the leader's log start (the leader's retention deleted what it lacked): emptied, it begins at the leader's log start");
      }
      target.update(state);
      this.leaderEpochs.set(target.id, Math.max(this.leaderEpoch(target), state.latestEpoch));
      this.commit(target);
      this.retainIfOverCap(target);
    }
  }

  /** Removes every entry after position `seq` (a follower whose tail diverged from the leader's). Never below what is committed. */
  async truncateEntriesAfter(seq: number): Promise<void> {
    if (seq < this.committed) throw new InvalidRecordError(`cannot truncate the replication log to ${seq}, below its commit position ${this.committed}`);
    this.adopt(await this.writer.truncateEntries(seq));
    this.unsynced = this.unsynced.filter((e) => e.seq <= seq);
  }

  /** The replication-log position up to which the high watermarks have been moved. */
  get commitPosition(): number {
    return this.committed;
  }

  /**
   * Entries up to position `seq` are committed (a quorum holds them): each partition's high
   * watermark moves past its last batch among them. Only forward; waiters wake.
   */
  commitEntries(seq: number): void {
    if (seq <= this.committed) return;
    const upto = Math.min(seq, this.reader.lastEntry().seq);
    if (upto <= this.committed) return;
    const byId = this.partitionsById;
    // A few entries (the usual step): the rows between. Many (the first commit after a start): each partition's tail.
    const ends = upto - this.committed <= ENTRIES_SCANNED_AT_MOST ? this.reader.endsBetween(this.committed, upto) : this.reader.endsAtOrBelow(upto);
    for (const { partitionId, end } of ends) byId.get(partitionId)?.advanceHighWatermark(end);
    this.committed = upto;
  }

  /**
   * This node leads the replication log in `epoch`: appends to every partition, also ones created
   * later, are stamped with it, and taken again (refuseAppends undone).
   */
  becomeClusterLeader(epoch: number): void {
    if (epoch < this.epochFloor) throw new StaleEpochError('*', 0, this.epochFloor, epoch);
    this.epochFloor = epoch;
    for (const parts of this.topicPartitions.values()) for (const p of parts) this.leaderEpochs.set(p.id, Math.max(this.leaderEpoch(p), epoch));
    this.refusal = null;
  }

  /** Leader appends fail with NotLeaderError(reason) from now on, and appends waiting to be committed fail too. */
  refuseAppends(reason: string): void {
    this.refusal = reason;
    this.leadership.abort();
    this.leadership = leadershipController();
  }

  /** Why leader appends are refused; null while they are taken. */
  get appendRefusal(): string | null {
    return this.refusal;
  }

  /**
   * Makes this node the partition's leader in `epoch`: later appends are stamped with it (in the
   * batch header's partitionLeaderEpoch and the leader_epoch column). An epoch never goes back
   * (StaleEpochError). A single node stays in the epoch its log holds last, or 0.
   */
  becomeLeader(topic: string, partition: number, epoch: number): void {
    const target = this.partition(topic, partition);
    if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > 0x7fffffff) throw new InvalidRecordError(`leader epoch must be an integer from 0 to 2147483647, got ${epoch}`);
    const current = this.leaderEpoch(target);
    if (epoch < current) throw new StaleEpochError(topic, partition, current, epoch);
    this.leaderEpochs.set(target.id, epoch);
  }

  /** The epoch leader appends to the partition are stamped with. */
  currentLeaderEpoch(topic: string, partition: number): number {
    return this.leaderEpoch(this.partition(topic, partition));
  }

  /** The retention a topic's batches are kept under (its own, else the log's default). */
  retentionOf(topic: string): RetentionSpec {
    this.partitionsOf(topic);
    return this.retention.get(topic) ?? this.options.defaultRetention ?? NO_RETENTION;
  }

  /** The partition's leader-epoch cache: each epoch in its log and the offset it starts at, oldest first. */
  epochStartOffsets(topic: string, partition: number): EpochStart[] {
    return this.reader.leaderEpochs(this.partition(topic, partition).id);
  }

  /**
   * Kafka's OffsetForLeaderEpoch answer: the largest epoch in the log at or below `epoch`, and the
   * offset where it ends (the start of the next higher epoch, or the log end for the latest).
   * { epoch: -1, endOffset: -1 } when the log holds no epoch at or below it.
   */
  endOffsetForEpoch(topic: string, partition: number, epoch: number): { epoch: number; endOffset: number } {
    const target = this.partition(topic, partition);
    const epochs = this.reader.leaderEpochs(target.id);
    let found = -1;
    for (let i = 0; i < epochs.length; i++) {
      if (epochs[i]!.epoch > epoch) break;
      found = i;
    }
    if (found === -1) return { epoch: -1, endOffset: -1 };
    const next = epochs[found + 1];
    return { epoch: epochs[found]!.epoch, endOffset: next === undefined ? target.logEndOffset : next.startOffset };
  }

  /**
   * Removes the partition's tail from `offset` on, atomically: its batches, their idempotence keys
   * and the leader epochs that start there; the log end offset moves back to `offset` and the high
   * watermark with it (never above the log end). `offset` must be a batch boundary (a batch's base
   * offset, or at or above the log end: then nothing happens), else OffsetMismatchError naming the
   * boundaries around it. For a follower whose log diverged from the new leader's.
   */
  async truncateTo(topic: string, partition: number, offset: number): Promise<PartitionInfo> {
    const target = this.partition(topic, partition);
    const state = await this.writer.truncate(target.id, offset);
    target.update(state);
    this.commit(target);
    return partitionInfo(target);
  }

  /** Releases one idempotence key, or every key of `producer` when `sequence` is null. */
  async releaseIdempotenceKeys(producer: string, sequence: number | null = null): Promise<number> {
    const released = await this.writer.releaseKeys(producer, sequence);
    // Replicated: the release goes to the followers as a record, committed before this resolves
    // (idempotence-header.ts); throws NotLeaderError on a node that does not lead.
    if (released > 0 && this.options.keysInBatches === true) {
      if (!this.topicPartitions.has(KEY_RELEASES_TOPIC)) await this.createTopic(KEY_RELEASES_TOPIC, 1);
      await this.append(KEY_RELEASES_TOPIC, 0, [{ timestamp: Date.now(), key: null, value: releaseValue(producer, sequence) }]);
    }
    return released;
  }

  /** Reads records from `from`, up to the high watermark unless `options.isolation` says 'logEnd'. */
  read(topic: string, partition: number, from: number, options?: ReadOptions): ReadResult {
    return this.partition(topic, partition).read(from, options);
  }

  /** Whole stored batches from the one holding `from`, up to the high watermark unless `isolation` says 'logEnd'. */
  readBatches(topic: string, partition: number, from: number, maxBytes?: number, isolation?: Isolation): RawBatch[] {
    return this.partition(topic, partition).readBatches(from, maxBytes, isolation);
  }

  /**
   * Reads now what readBatches(topic, partition, from, maxBytes, isolation) will be asked next, and
   * keeps it for that call (bounded, briefly: read-ahead.ts). For a sequential reader such as a
   * Kafka consumer, called in the idle moment after its last answer went out, so that its next
   * request does not wait for the read. Does nothing where there is nothing to read.
   */
  readAhead(topic: string, partition: number, from: number, maxBytes?: number, isolation?: Isolation): void {
    if (this.closing !== null) return;
    this.partition(topic, partition).readAhead(from, maxBytes, isolation);
  }

  /**
   * Resolves true once the partition's high watermark passes `offset` (the record at `offset` can
   * be read), false after `timeoutMs` or when `signal` aborts; at once when it already has. Rejects
   * with LogClosedError when the log closes meanwhile. Nothing polls: waiters are woken where the
   * high watermark moves. What a forwarder, a Kafka long-poll Fetch or a follower waits with.
   */
  waitFor(topic: string, partition: number, offset: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.closing !== null) return Promise.reject(new LogClosedError());
    return this.partition(topic, partition).waitFor(offset, timeoutMs, signal);
  }

  /** Calls `listener` whenever topics or partitions are added (a waiter for records wants to wait on them too). Returns the unsubscribe. */
  onPartitionsAdded(listener: () => void): () => void {
    this.partitionListeners.add(listener);
    return () => this.partitionListeners.delete(listener);
  }

  /**
   * Moves a partition's high watermark up to `offset` (at most its log end). The commit policy
   * does this as appends become durable; replication will call it as a quorum catches up.
   */
  advanceHighWatermark(topic: string, partition: number, offset: number): void {
    this.partition(topic, partition).advanceHighWatermark(offset);
  }

  offsetForTimestamp(topic: string, partition: number, timestamp: number): number | null {
    return this.partition(topic, partition).offsetForTimestamp(timestamp);
  }

  /** Deletes whole batches from the oldest end of each partition per its topic's retention. */
  async enforceRetention(now = Date.now()): Promise<RetentionResult> {
    const policies: RetentionPolicy[] = [];
    for (const [topic, parts] of this.topicPartitions) {
      const spec = this.retention.get(topic) ?? this.options.defaultRetention ?? NO_RETENTION;
      if (spec.maxAgeMs === null && spec.maxBytes === null) continue;
      for (const p of parts) {
        policies.push({
          partitionId: p.id,
          deleteBeforeTimestamp: spec.maxAgeMs === null ? null : now - spec.maxAgeMs,
          maxBytes: spec.maxBytes,
        });
      }
    }
    const result = await this.writer.retention(policies);
    this.adoptDeletion(result);
    if (result.batchesDeleted > 0) {
      this.options.logger?.info(
        { batches: result.batchesDeleted, records: result.recordsDeleted, bytes: result.bytesDeleted },
        'retention deleted old batches',
      );
    }
    return result;
  }

  /** The data directory's disk use against its budget (metrics, the dashboard). */
  diskStatus(): DiskBudgetStatus {
    return this.budget!.status();
  }

  /** Measures the data directory now and acts on its budget (the timer does this every second). */
  checkDiskBudget(): Promise<void> {
    return this.budget!.check();
  }

  /** The disk budget's pass: the oldest batches go, but only what is forwarded and committed. */
  private async reclaim(diskBytes: number): Promise<ReclaimOutcome> {
    const floors = new Map<number, number>();
    for (const [topic, parts] of this.topicPartitions) {
      for (const p of parts) {
        const forwarded = this.options.forwardedBelow === undefined ? null : this.options.forwardedBelow(topic, p.partition);
        floors.set(p.id, Math.min(p.highWatermark, forwarded ?? p.highWatermark));
      }
    }
    const result = await this.writer.reclaim(diskBytes, floors);
    this.adoptDeletion(result);
    return result;
  }

  /** The writer deleted batches (retention or the disk budget): new log starts, the file's measured disk ratio, the observer told. */
  private adoptDeletion(result: RetentionResult): void {
    this.diskBytesPerStoredByte = result.diskBytesPerStoredByte ?? this.diskBytesPerStoredByte;
    this.adopt(result.states);
    this.options.observer?.retentionRan?.(result);
  }

  /**
   * A partition past its byte cap by more than a little gets a retention pass now rather than at
   * the next scheduled one, so that a burst between two passes cannot take the disk far past the
   * cap. The slack (1/64 of the cap, at least 1 MiB) keeps passes from running on every append.
   */
  private retainIfOverCap(partition: Partition): void {
    if (this.capPass !== null || this.closing !== null) return;
    const cap = (this.retention.get(partition.topic) ?? this.options.defaultRetention ?? NO_RETENTION).maxBytes;
    if (cap === null || partition.bytes * this.diskBytesPerStoredByte <= cap + Math.max(CAP_SLACK_MIN_BYTES, cap / 64)) return;
    this.capPass = this.enforceRetention()
      .catch((err: unknown) => this.options.logger?.error({ err }, 'retention pass at a crossed byte cap failed; the scheduled passes go on'))
      .finally(() => {
        this.capPass = null;
      });
  }

  /** The corrupt batches reads have met since the log was opened, oldest first. */
  corruptBatches(): CorruptBatchObservation[] {
    return [...this.corrupt.values()];
  }

  /** Open and its writer thread alive: appends can succeed (the readiness probe). */
  get isOpen(): boolean {
    return this.closing === null && this.writer.failure === null;
  }

  /** Waits for queued appends, marks the log clean and releases the data directory. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.budget?.stop();
      for (const parts of this.topicPartitions.values()) for (const p of parts) p.failWaiters(new LogClosedError());
      try {
        await this.writer.close();
      } catch (err) {
        // Typically a full or read-only disk: the log could not be marked clean, so the next
        // start runs recovery. Nothing acknowledged is affected.
        this.options.logger?.warn({ err }, 'log closed without its clean-shutdown mark; the next start verifies it');
      } finally {
        this.reader.close();
        this.lock.release();
      }
    })();
    return this.closing;
  }

  private partitionsOf(topic: string): Partition[] {
    const parts = this.topicPartitions.get(topic);
    if (parts === undefined) throw new UnknownTopicError(topic);
    return parts;
  }

  private adopt(states: readonly PartitionState[]): void {
    let added = false;
    for (const state of states) {
      const parts = this.topicPartitions.get(state.topic) ?? [];
      this.topicPartitions.set(state.topic, parts);
      const existing = parts[state.partition];
      if (existing === undefined) {
        parts[state.partition] = new Partition(state, this.reader, (err) => this.noteCorrupt(err), this.options.committedOnOpen ?? true, this.ahead);
        this.partitionsById.set(state.id, parts[state.partition]!);
        if (state.latestEpoch > 0) this.leaderEpochs.set(state.id, state.latestEpoch);
        added = true;
      } else existing.update(state);
      this.commit(parts[state.partition]!);
    }
    if (added) for (const listener of [...this.partitionListeners]) listener();
  }

  private leaderEpoch(partition: Partition): number {
    return Math.max(this.leaderEpochs.get(partition.id) ?? 0, this.epochFloor);
  }

  /** The writer reported `partition`'s durable offsets: its high watermark goes where the commit policy says. */
  private commit(partition: Partition): void {
    partition.advanceHighWatermark((this.options.commitPolicy ?? singleNodeCommit)(partition));
  }

  private noteCorrupt(err: CorruptBatchError): void {
    const key = `${err.topic}-${err.partition}@${err.baseOffset}`;
    if (this.corrupt.has(key)) return;
    // A few hundred are plenty to act on; past that only the count (in the metrics) grows.
    if (this.corrupt.size >= MAX_CORRUPT_KEPT) this.corrupt.delete(this.corrupt.keys().next().value!);
    const batch = { topic: err.topic, partition: err.partition, fromOffset: err.baseOffset, toOffset: err.lastOffset, reason: err.reason, firstSeen: Date.now() };
    this.corrupt.set(key, batch);
    this.options.logger?.error({ ...batch }, 'a read met a corrupt batch; it is never served (TRIB_LOG_CORRUPT_BATCH)');
    this.options.observer?.corruptBatch?.(batch);
  }

  private reportRecovery(): void {
    const report = this.recovery;
    const logger = this.options.logger;
    if (report === null || logger === undefined) return;
    const summary = { partitions: report.partitionsChecked, batches: report.batchesChecked };
    if (report.problems.length === 0) {
      logger.warn(summary, 'log was not shut down cleanly; recovery verified the recent batches');
    } else {
      for (const problem of report.problems) logger.error({ problem }, 'recovery found a damaged batch');
      logger.error({ ...summary, damaged: report.problems.length }, 'recovery found damaged batches; reads of them fail with TRIB_LOG_CORRUPT_BATCH');
    }
  }
}

function partitionInfo(p: Partition): PartitionInfo {
  return { partition: p.partition, logStartOffset: p.logStartOffset, logEndOffset: p.logEndOffset, highWatermark: p.highWatermark, bytes: p.bytes };
}

function validateRecords(records: readonly RecordInput[]): void {
  if (records.length === 0) throw new InvalidRecordError('an append needs at least one record');
  for (const r of records) {
    if (!Number.isSafeInteger(r.timestamp) || r.timestamp < 0) {
      throw new InvalidRecordError(`record timestamp must be a non-negative integer of ms, got ${r.timestamp}`);
    }
  }
}

/** Names the cause when the data directory itself can't be prepared. */
function fileSystemError(err: unknown, dataDir: string): TributaryError {
  if (err instanceof TributaryError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return new ReadOnlyStorageError(dataDir, { cause: err });
  if (code === 'ENOSPC') return new DiskFullError(dataDir, { cause: err });
  // mkdir makes missing parents too, so what is left is a path it cannot make into folders.
  if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'ENOENT') return new DataDirError(dataDir, notADirectory(dataDir), { cause: err });
  return new StorageError(`cannot prepare the data directory ${dataDir}: ${(err as Error).message}`, { cause: err });
}

/** What stands in the way of making `dataDir` a folder: the nearest part of its path that is no folder. */
function notADirectory(dataDir: string): string {
  const problem = (path: string, what: string): string =>
    path === dataDir
      ? `it is ${what}, not a directory. Move it away, or choose another data directory (a missing one is created with its parents).`
      : `${path} on its path is ${what}, not a directory. Fix that path, or choose another data directory (a missing one is created with its parents).`;
  for (let path = dataDir; path !== dirname(path); path = dirname(path)) {
    if (existsSync(path)) {
      if (statSync(path).isDirectory()) break;
      return problem(path, 'a file');
    }
    if (isSymbolicLink(path)) return problem(path, 'a symbolic link to nothing');
  }
  return 'a part of its path is not a directory. Choose another data directory.';
}

function isSymbolicLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * The signal appends waiting to be committed listen on, one listener each (removed when the append
 * resolves): a leader under load has thousands at once, which is no leak, so no listener limit.
 */
function leadershipController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** The records with the idempotence key in a header of the first (idempotence-header.ts). */
function withKeyHeader(records: readonly RecordInput[], key: IdempotenceKey): RecordInput[] {
  return records.map((r, i) => (i === 0 ? { ...r, headers: [...(r.headers ?? []), keyHeader(key)] } : r));
}
