// Salvage: copies every intact, CRC-valid batch of a damaged log into a new data directory, with
// its offsets and leader epoch kept, and reports per partition what was copied and which offset
// ranges were lost. For a log that no longer opens (TRIB_LOG_DAMAGED) or whose reads keep meeting
// damaged pages.
//
// A damaged SQLite file fails any statement whose B-tree walk touches a damaged page, so the old
// log is read one row at a time by key, never by one long scan:
//   1. per partition, seek the first row at or after the next wanted offset (keys only: the blob's
//      overflow pages stay untouched) and read that row's data by its key;
//   2. check each batch as a read would (CRC-32C, the header's offsets against the row's) and
//      append the good ones to the new log as they are (BatchStore.appendStored);
//   3. when a seek fails, the damaged page covers a run of keys: find the first offset past it at
//      which a seek succeeds again (exponential steps, then bisection) and report the offsets
//      between as lost. A row whose data fails (CRC, an overflow page) is lost by itself, from its
//      key to just before the next row's.
// The old file is opened read-only and never changed.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { LogDamagedError, UsageError } from '../errors.js';
import { BatchStore } from './batch-store.js';
import { DAMAGED, firstBaseAfterDamage } from './damage-probe.js';
import { DataDirLock } from './data-dir-lock.js';
import { BatchFormatError, readBatchHeader } from './record-batch.js';
import { DATABASE_FILE, openDatabase, type Db } from './schema.js';
import { isSqliteCorruption } from './sqlite-errors.js';

/** Offsets of one partition that salvage could not copy; `toOffset` null: up to an unknown end. */
export interface LostRange {
  fromOffset: number;
  toOffset: number | null;
  reason: string;
}

export interface PartitionSalvage {
  topic: string;
  partition: number;
  batchesCopied: number;
  /** Offsets the copied batches cover. */
  recordsCopied: number;
  bytesCopied: number;
  lost: LostRange[];
}

export interface SalvageReport {
  partitions: PartitionSalvage[];
  idempotenceKeysCopied: number;
  /** Problems that are not one partition's: tables that could not be read. */
  problems: string[];
}

export interface SalvageProgress {
  topic: string;
  partition: number;
  /** Offsets of all partitions walked so far, of `total`. */
  done: number;
  total: number;
}

interface OldPartition {
  id: number;
  topic: string;
  partition: number;
  logStartOffset: number;
  recoveryPoint: number;
}

interface RowKey {
  baseOffset: number;
  lastOffset: number;
}


/** Batches copied per transaction of the new log. */
const GROUP_BATCHES = 256;

export function salvageLog(fromDir: string, toDir: string, onProgress: (progress: SalvageProgress) => void = () => undefined): SalvageReport {
  const from = resolve(fromDir);
  const to = resolve(toDir);
  if (from === to) throw new UsageError('salvage copies into a new data directory: --to must differ from --data-dir');
  if (!existsSync(join(from, DATABASE_FILE))) throw new UsageError(`--data-dir: no Tributary log in ${from} (no ${DATABASE_FILE})`);
  if (existsSync(join(to, DATABASE_FILE))) throw new UsageError(`--to: ${to} already holds a log; salvage writes into a new, empty data directory`);
  mkdirSync(to, { recursive: true });
  const oldLock = lockOld(from);
  const newLock = DataDirLock.acquire(to);
  let old: Db | undefined;
  let fresh: Db | undefined;
  try {
    old = new Database(join(from, DATABASE_FILE), { readonly: true, fileMustExist: true });
    old.pragma('query_only = ON');
    fresh = openDatabase(join(to, DATABASE_FILE), { readonly: false, synchronous: 'NORMAL' });
    const report = new Salvage(old, new BatchStore(fresh), fresh, from, onProgress).run();
    fresh.pragma('wal_checkpoint(TRUNCATE)');
    return report;
  } finally {
    old?.close();
    fresh?.close();
    newLock.release();
    oldLock?.release();
  }
}

/**
 * Locks the old directory so that no node runs on it meanwhile. A directory on a read-only mount
 * (a failing card remounted read-only) cannot be locked, and no node can write there either.
 */
function lockOld(dir: string): DataDirLock | null {
  try {
    return DataDirLock.acquire(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return null;
    throw err;
  }
}

class Salvage {
  private readonly report: SalvageReport = { partitions: [], idempotenceKeysCopied: 0, problems: [] };
  private readonly seek;
  private readonly dataOf;
  private readonly maxBase;
  private readonly copied = new Map<number, { newId: number; ranges: Array<[number, number]> }>();
  private done = 0;
  private total = 0;

  constructor(
    private readonly old: Db,
    private readonly store: BatchStore,
    private readonly fresh: Db,
    private readonly dataDir: string,
    private readonly onProgress: (progress: SalvageProgress) => void,
  ) {
    this.seek = old.prepare(
      `SELECT base_offset AS baseOffset, last_offset AS lastOffset FROM batches
        WHERE partition_id = ? AND base_offset >= ? ORDER BY base_offset LIMIT 1`,
    );
    this.dataOf = old.prepare(`SELECT data FROM batches WHERE partition_id = ? AND base_offset = ?`).pluck();
    this.maxBase = old.prepare(`SELECT MAX(base_offset) FROM batches WHERE partition_id = ?`).pluck();
  }

  run(): SalvageReport {
    const partitions = this.partitions();
    const topics = this.topics(partitions);
    for (const [name, count] of topics) this.store.createTopic(name, count);
    const newIds = new Map(this.store.states().map((s) => [`${s.topic}\u0000${s.partition}`, s.id]));
    const ends = partitions.map((p) => this.endOf(p));
    this.total = partitions.reduce((n, p, i) => n + Math.max(0, ends[i]! - p.logStartOffset), 0);
    partitions.forEach((p, i) => this.copyPartition(p, newIds.get(`${p.topic}\u0000${p.partition}`)!, ends[i]!));
    this.copyIdempotenceKeys();
    this.store.markClean();
    return this.report;
  }

  private partitions(): OldPartition[] {
    try {
      return this.old
        .prepare(
          `SELECT id, topic, partition, log_start_offset AS logStartOffset, recovery_point AS recoveryPoint
             FROM partitions ORDER BY topic, partition`,
        )
        .all() as OldPartition[];
    } catch (err) {
      if (!isSqliteCorruption(err)) throw err;
      // Without it no batch can be named by topic and partition.
      throw new LogDamagedError(this.dataDir, `the partitions table of ${this.dataDir} cannot be read (${(err as Error).message}); no batch can be attributed to a topic, nothing was copied`, { cause: err });
    }
  }

  /** Topic name -> partition count: from the topics table, or else from the partitions found. */
  private topics(partitions: readonly OldPartition[]): Map<string, number> {
    const counts = new Map<string, number>();
    for (const p of partitions) counts.set(p.topic, Math.max(counts.get(p.topic) ?? 0, p.partition + 1));
    try {
      for (const row of this.old.prepare(`SELECT name, partitions FROM topics`).all() as Array<{ name: string; partitions: number }>) {
        counts.set(row.name, Math.max(counts.get(row.name) ?? 0, row.partitions));
      }
    } catch (err) {
      if (!isSqliteCorruption(err)) throw err;
      this.report.problems.push(`the topics table cannot be read (${(err as Error).message}); topics were rebuilt from the partitions table`);
    }
    return counts;
  }

  /** Where the old partition ended, as far as can be told: its last row, or the last clean stop. */
  private endOf(p: OldPartition): number {
    let lastBase: number | null = null;
    try {
      lastBase = this.maxBase.get(p.id) as number | null;
    } catch (err) {
      if (!isSqliteCorruption(err)) throw err;
    }
    if (lastBase !== null) {
      const row = this.trySeek(p.id, lastBase);
      if (row !== DAMAGED && row !== undefined) return Math.max(row.lastOffset + 1, p.recoveryPoint);
    }
    return Math.max(p.recoveryPoint, p.logStartOffset);
  }

  private copyPartition(p: OldPartition, newId: number, end: number): void {
    const result: PartitionSalvage = { topic: p.topic, partition: p.partition, batchesCopied: 0, recordsCopied: 0, bytesCopied: 0, lost: [] };
    this.report.partitions.push(result);
    this.store.setLogStartOffset(newId, p.logStartOffset);
    const ranges: Array<[number, number]> = [];
    this.copied.set(p.id, { newId, ranges });
    let group: Buffer[] = [];
    const flush = (): void => {
      if (group.length === 0) return;
      this.store.appendStored(newId, group);
      group = [];
    };
    let expected = p.logStartOffset; // the next offset not yet copied or reported lost
    let lost: { from: number; reason: string } | null = null;
    const closeLost = (before: number | null): void => {
      if (lost === null) return;
      result.lost.push({ fromOffset: lost.from, toOffset: before === null ? null : before - 1, reason: lost.reason });
      lost = null;
    };
    const markLost = (from: number, reason: string): void => {
      if (lost === null) lost = { from, reason };
    };
    let at = p.logStartOffset;
    const started = this.done;
    for (;;) {
      const row = this.trySeek(p.id, at);
      if (row === undefined) break;
      if (row === DAMAGED) {
        markLost(at, 'storage page damaged (SQLITE_CORRUPT)');
        const resume = this.resumeAfter(p.id, at, end);
        if (resume === undefined) break;
        at = resume;
        continue;
      }
      if (row.baseOffset < at || row.lastOffset < row.baseOffset) {
        // Garbage that SQLite took for a row: skip it as part of the damage.
        markLost(at, 'storage page damaged (an impossible row)');
        at++;
        continue;
      }
      if (lost === null && row.baseOffset > expected) result.lost.push({ fromOffset: expected, toOffset: row.baseOffset - 1, reason: 'offsets already missing in the old log' });
      const problem = this.check(p.id, row);
      if (typeof problem === 'string') {
        closeLost(row.baseOffset);
        markLost(row.baseOffset, problem);
        at = row.baseOffset + 1;
        continue;
      }
      closeLost(row.baseOffset);
      group.push(problem);
      if (group.length >= GROUP_BATCHES) flush();
      result.batchesCopied++;
      result.recordsCopied += row.lastOffset - row.baseOffset + 1;
      result.bytesCopied += problem.length;
      const last = ranges.at(-1);
      if (last !== undefined && last[1] + 1 === row.baseOffset) last[1] = row.lastOffset;
      else ranges.push([row.baseOffset, row.lastOffset]);
      at = row.lastOffset + 1;
      expected = at;
      this.done = started + Math.min(at, end) - p.logStartOffset;
      if (result.batchesCopied % 64 === 0) this.onProgress({ topic: p.topic, partition: p.partition, done: this.done, total: this.total });
    }
    flush();
    // What was lost at the end runs to the old log end, when that is known.
    const open = lost as { from: number; reason: string } | null;
    if (open !== null) result.lost.push({ fromOffset: open.from, toOffset: end > open.from ? end - 1 : null, reason: open.reason });
    else if (end > expected) result.lost.push({ fromOffset: expected, toOffset: end - 1, reason: 'storage page damaged (the end of the partition cannot be read)' });
    this.done = started + Math.max(0, end - p.logStartOffset);
    this.onProgress({ topic: p.topic, partition: p.partition, done: this.done, total: this.total });
  }

  /** The good batch's bytes, or why the row cannot be copied. */
  private check(partitionId: number, row: RowKey): Buffer | string {
    let data: Buffer | undefined;
    try {
      data = this.dataOf.get(partitionId, row.baseOffset) as Buffer | undefined;
    } catch (err) {
      if (!isSqliteCorruption(err)) throw err;
      return 'storage page damaged (SQLITE_CORRUPT reading the batch)';
    }
    if (data === undefined) return 'the row vanished between its key and its data';
    try {
      const header = readBatchHeader(data, true);
      if (header.baseOffset !== row.baseOffset) return `header says base offset ${header.baseOffset}`;
      if (header.baseOffset + header.lastOffsetDelta !== row.lastOffset) return `header's last offset differs from the index (${row.lastOffset})`;
    } catch (err) {
      if (err instanceof BatchFormatError) return err.message;
      throw err;
    }
    return data;
  }

  private trySeek(partitionId: number, offset: number): RowKey | undefined | typeof DAMAGED {
    try {
      return this.seek.get(partitionId, offset) as RowKey | undefined;
    } catch (err) {
      if (!isSqliteCorruption(err)) throw err;
      return DAMAGED;
    }
  }

  /** The first row past the damaged page a seek at `damaged` met, if any is found. */
  private resumeAfter(partitionId: number, damaged: number, end: number): number | undefined {
    const seek = (offset: number): number | undefined => (this.seek.get(partitionId, offset) as RowKey | undefined)?.baseOffset;
    return firstBaseAfterDamage(seek, damaged, Math.max(end, damaged + 1) * 2 + 1024);
  }

  /** Keys of idempotent appends (QoS 2 publishes in flight) whose batches were copied. */
  private copyIdempotenceKeys(): void {
    let rows: Array<{ producer: string; sequence: number; partitionId: number; baseOffset: number; lastOffset: number }>;
    try {
      rows = this.old
        .prepare(`SELECT producer, sequence, partition_id AS partitionId, base_offset AS baseOffset, last_offset AS lastOffset FROM idempotence_keys`)
        .all() as typeof rows;
    } catch (err) {
      if (!isSqliteCorruption(err)) throw err;
      this.report.problems.push(`the idempotence keys cannot be read (${(err as Error).message}); a QoS 2 publish in flight during the damage may be stored twice if its client resends it`);
      return;
    }
    const insert = this.fresh.prepare(`INSERT INTO idempotence_keys (producer, sequence, partition_id, base_offset, last_offset) VALUES (?, ?, ?, ?, ?)`);
    this.fresh.transaction(() => {
      for (const key of rows) {
        const copied = this.copied.get(key.partitionId);
        if (copied === undefined || !copied.ranges.some(([a, b]) => key.baseOffset >= a && key.lastOffset <= b)) continue;
        insert.run(key.producer, key.sequence, copied.newId, key.baseOffset, key.lastOffset);
        this.report.idempotenceKeysCopied++;
      }
    })();
  }
}
