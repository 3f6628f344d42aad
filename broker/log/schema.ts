// The SQLite layout of the log. One database file per data directory holds every topic, so one
// group commit (one fsync) covers appends to all partitions at once: on an SD card the number of
// fsyncs, not the bytes, is what limits throughput.
import Database from 'better-sqlite3';
import { IncompatibleLogError } from '../errors.js';

export type Db = Database.Database;

// 2: leader_epochs (a log of schema version 1 gets it on open, filled from its batches).
export const SCHEMA_VERSION = 2;
export const DATABASE_FILE = 'log.db';

const DDL = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS topics (
  name       TEXT PRIMARY KEY,
  partitions INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- log_start_offset: the first offset still stored (moves forward with retention).
-- recovery_point: batches below it were verified (CRC, contiguity) by a clean shutdown or a
-- recovery pass; after an unclean stop only batches at or above it are checked.
CREATE TABLE IF NOT EXISTS partitions (
  id               INTEGER PRIMARY KEY,
  topic            TEXT NOT NULL REFERENCES topics(name),
  partition        INTEGER NOT NULL,
  log_start_offset INTEGER NOT NULL DEFAULT 0,
  recovery_point   INTEGER NOT NULL DEFAULT 0,
  UNIQUE (topic, partition)
);

-- One row per RecordBatch v2. The blob comes last so that scans of the small columns never touch
-- its overflow pages. ts_high is the running maximum of max_timestamp up to and including this
-- batch: it never decreases along the partition, so the time index can answer "first offset at or
-- after T" with one seek even when producers' clocks go backwards.
CREATE TABLE IF NOT EXISTS batches (
  partition_id  INTEGER NOT NULL,
  base_offset   INTEGER NOT NULL,
  last_offset   INTEGER NOT NULL,
  max_timestamp INTEGER NOT NULL,
  ts_high       INTEGER NOT NULL,
  leader_epoch  INTEGER NOT NULL,
  size          INTEGER NOT NULL,
  data          BLOB NOT NULL,
  PRIMARY KEY (partition_id, base_offset)
) WITHOUT ROWID;

-- The leader-epoch cache, as Kafka's leader-epoch-checkpoint: the first offset of each leader epoch
-- in the partition. Written in the same transaction as the first batch of a new epoch, cut back by
-- truncateTo and retention, rebuilt from the batches by recovery. Answers OffsetForLeaderEpoch.
CREATE TABLE IF NOT EXISTS leader_epochs (
  partition_id INTEGER NOT NULL,
  epoch        INTEGER NOT NULL,
  start_offset INTEGER NOT NULL,
  PRIMARY KEY (partition_id, epoch)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS batches_by_time ON batches (partition_id, ts_high);

-- Idempotence keys: an append that carries (producer, sequence) is stored at most once while the
-- key is held, because the key is inserted in the same transaction as the batch. The MQTT front
-- end keys QoS 2 publishes by (client id, packet id) and releases the key at PUBREL, so a PUBLISH
-- retransmitted after a lost PUBREC, even across a crash, is not stored twice.
CREATE TABLE IF NOT EXISTS idempotence_keys (
  producer     TEXT NOT NULL,
  sequence     INTEGER NOT NULL,
  partition_id INTEGER NOT NULL,
  base_offset  INTEGER NOT NULL,
  last_offset  INTEGER NOT NULL,
  PRIMARY KEY (producer, sequence)
) WITHOUT ROWID;
`;

export interface OpenOptions {
  readonly: boolean;
  /** SQLite's synchronous pragma for the writer: FULL fsyncs the WAL at every commit. */
  synchronous?: 'FULL' | 'NORMAL';
}

/** Opens (and for the writer, creates) the log database with the pragmas the log relies on. */
export function openDatabase(file: string, options: OpenOptions): Db {
  const db = new Database(file, { readonly: options.readonly, fileMustExist: options.readonly });
  if (options.readonly) {
    db.pragma('query_only = ON');
    return db;
  }
  // 16 KiB pages: a 1000-record batch (~110 KB) spans 7 overflow pages instead of 28, which
  // measurably speeds both appends and reads (bench/log.bench.ts); takes effect on a new file.
  db.pragma('page_size = 16384');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
  // Keep the WAL file from staying large after a burst: once checkpointed it is cut back to 16 MiB,
  // so under steady load with retention the files stop growing.
  db.pragma('journal_size_limit = 16777216');
  db.pragma('foreign_keys = ON');
  db.exec(DDL);
  const version = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get() as string | undefined;
  if (version === undefined) {
    db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
  } else if (Number(version) > SCHEMA_VERSION) {
    db.close();
    throw new IncompatibleLogError(`log database ${file} has schema version ${version}; this Tributary knows up to ${SCHEMA_VERSION}`);
  } else if (Number(version) < SCHEMA_VERSION) {
    // Version 1 had no leader_epochs (the DDL above just made it): fill it from the batches.
    db.transaction(() => {
      for (const id of allPartitionIds(db)) rebuildLeaderEpochs(db, id);
      db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(String(SCHEMA_VERSION));
    })();
  }
  return db;
}

/**
 * Rebuilds the tail of one partition's leader-epoch cache from its batches: the entries starting at
 * or above `from` are replaced by each epoch's lowest base offset at or above `from` (an epoch that
 * already started below `from` keeps its entry). Reads only the batches' index columns from `from`
 * on. Returns how many entries it changed.
 */
export function rebuildLeaderEpochs(db: Db, partitionId: number, from = 0): number {
  const before = db.prepare(`SELECT epoch, start_offset FROM leader_epochs WHERE partition_id = ? AND start_offset >= ?`).all(partitionId, from) as EpochRow[];
  db.prepare(`DELETE FROM leader_epochs WHERE partition_id = ? AND start_offset >= ?`).run(partitionId, from);
  db.prepare(
    `INSERT INTO leader_epochs (partition_id, epoch, start_offset)
     SELECT partition_id, leader_epoch, MIN(base_offset) FROM batches
      WHERE partition_id = ? AND base_offset >= ?
        AND leader_epoch > COALESCE((SELECT MAX(epoch) FROM leader_epochs WHERE partition_id = ?), -1)
      GROUP BY leader_epoch`,
  ).run(partitionId, from, partitionId);
  const after = db.prepare(`SELECT epoch, start_offset FROM leader_epochs WHERE partition_id = ? AND start_offset >= ?`).all(partitionId, from) as EpochRow[];
  const old = new Set(before.map(rowKey));
  const now = new Set(after.map(rowKey));
  let changed = 0;
  for (const k of now) if (!old.has(k)) changed++;
  for (const k of old) if (!now.has(k)) changed++;
  return changed;
}

/**
 * Cuts the head of one partition's leader-epoch cache after retention moved its log start: epochs
 * that started below `logStart` go, and the epoch of the first batch left starts at that batch.
 */
export function trimLeaderEpochs(db: Db, partitionId: number, logStart: number): void {
  db.prepare(`DELETE FROM leader_epochs WHERE partition_id = ? AND start_offset < ?`).run(partitionId, logStart);
  db.prepare(
    `INSERT OR IGNORE INTO leader_epochs (partition_id, epoch, start_offset)
     SELECT partition_id, leader_epoch, base_offset FROM batches
      WHERE partition_id = ? AND base_offset >= ? ORDER BY base_offset LIMIT 1`,
  ).run(partitionId, logStart);
}

function allPartitionIds(db: Db): number[] {
  return db.prepare(`SELECT id FROM partitions`).pluck().all() as number[];
}

interface EpochRow {
  epoch: number;
  start_offset: number;
}

function rowKey(r: EpochRow): string {
  return `${r.epoch}:${r.start_offset}`;
}
