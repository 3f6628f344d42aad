// The SQLite layout of the log. One database file per data directory holds every topic, so one
// group commit (one fsync) covers appends to all partitions at once: on an SD card the number of
// fsyncs, not the bytes, is what limits throughput.
import Database from 'better-sqlite3';
import { IncompatibleLogError } from '../errors.js';

export type Db = Database.Database;

// 2: leader_epochs (a log of schema version 1 gets it on open, filled from its batches).
// 3: batches in a rowid table and the file in incremental auto-vacuum (see BATCHES_DDL); an older
//    log is rebuilt on open by upgradeBatches().
export const SCHEMA_VERSION = 3;
export const DATABASE_FILE = 'log.db';
const WAL_CHECKPOINT_BYTES = 4 * 1024 * 1024;
// 4 KiB pages. A row sits whole on a leaf page or starts there and goes on in overflow pages, so
// the space a page cannot use is up to a row's size: with 16 KiB pages, batches of 8.5 KB (1,000
// devices x 10 msg/s) went one to a page and the file held 1.7 bytes per batch byte; with 4 KiB
// pages, 1.1 (docs/disk.md). A commit also writes fewer bytes to the WAL at low rates. 16 KiB
// pages read and append 1000-record batches faster (bench:log: about 2.6M against 2.0M records/s
// durable, one noisy run each); the edge's common load is the small one.
export const PAGE_SIZE = 4096;
/**
 * Each connection's page cache, in KiB: SQLite's own default (better-sqlite3 builds it with 16 MB).
 * The writer appends at the right edge of the table and its indexes, so the pages it revisits are
 * few (the interior pages and the last leaves); a reader reads a range once. A larger cache fills
 * with written pages that are not read again, and counts in the process's memory (docs/performance.md,
 * Memory); the OS's page cache keeps the file's recent pages either way.
 */
export const CACHE_KIB = 2048;

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

-- The leader-epoch cache, as Kafka's leader-epoch-checkpoint: the first offset of each leader epoch
-- in the partition. Written in the same transaction as the first batch of a new epoch, cut back by
-- truncateTo and retention, rebuilt from the batches by recovery. Answers OffsetForLeaderEpoch.
CREATE TABLE IF NOT EXISTS leader_epochs (
  partition_id INTEGER NOT NULL,
  epoch        INTEGER NOT NULL,
  start_offset INTEGER NOT NULL,
  PRIMARY KEY (partition_id, epoch)
) WITHOUT ROWID;

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

-- Kafka's idempotent producers (producer-state.ts): per partition and producer id, the epoch and
-- the sequences and offsets of its last 5 batches, written in the same transaction as the batch,
-- cut back with the batches by truncateTo and by retention. Added without a schema version: an
-- older log gets the empty table on open, and an older Tributary never reads it. The meta key
-- 'next_producer_id' holds the next producer id InitProducerId hands out.
CREATE TABLE IF NOT EXISTS producer_batches (
  partition_id   INTEGER NOT NULL,
  producer_id    INTEGER NOT NULL,
  producer_epoch INTEGER NOT NULL,
  first_sequence INTEGER NOT NULL,
  last_sequence  INTEGER NOT NULL,
  base_offset    INTEGER NOT NULL,
  last_offset    INTEGER NOT NULL,
  PRIMARY KEY (partition_id, producer_id, base_offset)
) WITHOUT ROWID;
`;

// One row per RecordBatch v2, in a rowid table whose rowid is the order of appends. Measured
// (docs/disk.md): a WITHOUT ROWID table keyed by (partition, offset) stored a 5 KB batch as a
// 2-4 KB local part plus a mostly empty 16 KiB overflow page (about 3x the bytes stored, 7x with
// the free pages retention left); in a rowid table appends in rowid order fill each page before
// starting the next, and a row too big for a 4 KiB page goes on in full overflow pages. The blob comes last so that
// reads of the small columns stop before it. ts_high is the running maximum of max_timestamp up
// to and including this batch: it never decreases along the partition, so the time index can
// answer "first offset at or after T" with one seek even when producers' clocks go backwards.
const BATCHES_DDL = `
CREATE TABLE IF NOT EXISTS batches (
  id            INTEGER PRIMARY KEY,
  partition_id  INTEGER NOT NULL,
  base_offset   INTEGER NOT NULL,
  last_offset   INTEGER NOT NULL,
  max_timestamp INTEGER NOT NULL,
  ts_high       INTEGER NOT NULL,
  leader_epoch  INTEGER NOT NULL,
  size          INTEGER NOT NULL,
  data          BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS batches_by_offset ON batches (partition_id, base_offset);
-- size rides along so that a partition's bytes are summed from this index alone at start-up.
CREATE INDEX IF NOT EXISTS batches_by_time ON batches (partition_id, ts_high, size);
`;

const BATCH_COLUMNS = 'partition_id, base_offset, last_offset, max_timestamp, ts_high, leader_epoch, size, data';

export interface OpenOptions {
  readonly: boolean;
  /** SQLite's synchronous pragma for the writer: FULL fsyncs the WAL at every commit. */
  synchronous?: 'FULL' | 'NORMAL';
  /** Told, in words, of what opening changed in an older log's layout (for the writer's log lines). */
  onUpgrade?: (note: string) => void;
}

/** Opens (and for the writer, creates) the log database with the pragmas the log relies on. */
export function openDatabase(file: string, options: OpenOptions): Db {
  const db = new Database(file, { readonly: options.readonly, fileMustExist: options.readonly });
  db.pragma(`cache_size = -${CACHE_KIB}`);
  if (options.readonly) {
    db.pragma('query_only = ON');
    return db;
  }
  // 4 KiB pages (PAGE_SIZE); takes effect on a new file, an older one gets it in upgradeBatches.
  db.pragma(`page_size = ${PAGE_SIZE}`);
  // Space freed by retention goes back to the file system in steps (returnFreePages() in
  // batch-store.ts) instead of staying in the file; must be set before the first table is made.
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
  // The WAL is folded into the file every 4 MiB and cut back to 4 MiB after a burst: it counts
  // against the disk like the log does (said outright: SQLite's default is in pages, not bytes).
  db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_BYTES / PAGE_SIZE}`);
  db.pragma(`journal_size_limit = ${WAL_CHECKPOINT_BYTES}`);
  db.pragma('foreign_keys = ON');
  db.exec(DDL);
  upgradeBatches(db, options.onUpgrade ?? (() => {}));
  const version = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get() as string | undefined;
  if (version === undefined) {
    db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
  } else if (Number(version) > SCHEMA_VERSION) {
    db.close();
    throw new IncompatibleLogError(`log database ${file} has schema version ${version}; this Tributary knows up to ${SCHEMA_VERSION}`);
  } else if (Number(version) < SCHEMA_VERSION) {
    // Version 1 had no leader_epochs (the DDL above just made it): fill it from the batches.
    db.transaction(() => {
      if (Number(version) < 2) for (const id of allPartitionIds(db)) rebuildLeaderEpochs(db, id);
      db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`).run(String(SCHEMA_VERSION));
    })();
  }
  return db;
}

/**
 * Makes the batches table (a new file), or rebuilds one of the WITHOUT ROWID layout of schema
 * versions 1 and 2 in one transaction, then turns on incremental auto-vacuum, which an existing
 * file takes only with a VACUUM (a copy of the whole file: it needs that much free space, and a
 * failed VACUUM leaves the file as it was; it is tried again at the next start).
 */
function upgradeBatches(db: Db, onUpgrade: (note: string) => void): void {
  const table = db.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'batches'`).pluck().get() as string | undefined;
  if (table !== undefined && /WITHOUT\s+ROWID/i.test(table)) {
    const started = Date.now();
    db.transaction(() => {
      db.exec(`DROP INDEX IF EXISTS batches_by_time; ALTER TABLE batches RENAME TO batches_old;`);
      db.exec(BATCHES_DDL);
      db.exec(`INSERT INTO batches (${BATCH_COLUMNS}) SELECT ${BATCH_COLUMNS} FROM batches_old ORDER BY base_offset, partition_id;
               DROP TABLE batches_old;`);
    })();
    onUpgrade(`batches rebuilt in the rowid layout of schema version 3 in ${Date.now() - started} ms`);
  } else {
    db.exec(BATCHES_DDL);
  }
  if (db.pragma('auto_vacuum', { simple: true }) !== INCREMENTAL_VACUUM || db.pragma('page_size', { simple: true }) !== PAGE_SIZE) {
    const started = Date.now();
    // Both take effect only through a VACUUM, and the page size only outside WAL mode.
    try {
      db.pragma('journal_mode = DELETE');
      db.pragma(`page_size = ${PAGE_SIZE}`);
      db.pragma('auto_vacuum = INCREMENTAL');
      db.exec('VACUUM');
      onUpgrade(`log file compacted into ${PAGE_SIZE}-byte pages with incremental auto-vacuum in ${Date.now() - started} ms`);
    } catch (err) {
      // The log works without it; space freed by retention is then reused but not returned.
      onUpgrade(`log file not compacted (${(err as Error).message}); space freed by retention is reused but not returned to the file system until a start where this succeeds`);
    } finally {
      db.pragma('journal_mode = WAL');
    }
  }
}

const INCREMENTAL_VACUUM = 2;

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

/** The query of lastDeletedEntry, for a caller that prepares it once (the replication leader asks on every fetch). */
export const LAST_DELETED_ENTRY_SQL = `SELECT value FROM meta WHERE key = 'last_entry'`;

/** The newest replication-log entry a retention pass saw before it deleted batches (meta 'last_entry'); seq 0 when none. */
export function lastDeletedEntry(db: Db): { seq: number; epoch: number } {
  return parseLastDeletedEntry(db.prepare(LAST_DELETED_ENTRY_SQL).pluck().get() as string | undefined);
}

/** lastDeletedEntry from the value LAST_DELETED_ENTRY_SQL plucked. */
export function parseLastDeletedEntry(value: string | undefined): { seq: number; epoch: number } {
  if (value === undefined) return { seq: 0, epoch: -1 };
  const [seq, epoch] = value.split(':').map(Number);
  return { seq: seq ?? 0, epoch: epoch ?? -1 };
}
