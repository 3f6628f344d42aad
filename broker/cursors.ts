// Durable read positions in the log: "group G has consumed topic T, partition P up to (not
// including) offset N". Named replay readers and the at-least-once forwarder keep theirs here.
// One small SQLite file beside the log (cursors.db) with synchronous=FULL: a commit() that
// returned survives a power cut, so a reader resumes where it said it was, never before.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StorageError } from './errors.js';

export const CURSORS_FILE = 'cursors.db';

export interface Cursor {
  group: string;
  topic: string;
  partition: number;
  /** The next offset to read. */
  nextOffset: number;
  /** When it was last committed (ms since the epoch). */
  updatedAt: number;
}

/** One changed position: `nextOffset` null when it was forgotten. */
export interface CursorChange {
  group: string;
  topic: string;
  partition: number;
  nextOffset: number | null;
}

export class CursorStore {
  private readonly selectOne;
  private readonly upsert;
  private readonly selectAll;
  private readonly deleteGroup;
  private readonly deleteOne;
  private readonly adoptGroup;
  private readonly selectGroup;
  private readonly listeners = new Set<(changes: readonly CursorChange[]) => void>();

  private constructor(private readonly db: Database.Database) {
    this.selectOne = db.prepare('SELECT next_offset FROM cursors WHERE grp = ? AND topic = ? AND partition = ?').pluck();
    this.upsert = db.prepare(
      `INSERT INTO cursors (grp, topic, partition, next_offset, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (grp, topic, partition) DO UPDATE SET next_offset = excluded.next_offset, updated_at = excluded.updated_at`,
    );
    this.selectAll = db.prepare(
      'SELECT grp AS "group", topic, partition, next_offset AS nextOffset, updated_at AS updatedAt FROM cursors ORDER BY grp, topic, partition',
    );
    this.deleteGroup = db.prepare('DELETE FROM cursors WHERE grp = ?');
    this.deleteOne = db.prepare('DELETE FROM cursors WHERE grp = ? AND topic = ? AND partition = ?');
    this.adoptGroup = db.prepare('INSERT OR IGNORE INTO cursors SELECT ?, topic, partition, next_offset, updated_at FROM cursors WHERE grp = ?');
    this.selectGroup = db.prepare('SELECT topic, partition, next_offset AS nextOffset FROM cursors WHERE grp = ?');
  }

  /**
   * Told of every change once it is durable (replication appends them to the cluster's log:
   * bridge/cluster/replicated-positions.ts). Changes made with applyReplicated are not told.
   */
  onChange(listener: (changes: readonly CursorChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private told(changes: readonly CursorChange[]): void {
    if (changes.length > 0) for (const listener of [...this.listeners]) listener(changes);
  }

  /** Applies changes another node made (a follower's copy of the leader's positions), in one transaction, telling no listener. */
  applyReplicated(changes: readonly CursorChange[]): void {
    this.db.transaction(() => {
      for (const c of changes) {
        if (c.nextOffset === null) this.deleteOne.run(c.group, c.topic, c.partition);
        else this.upsert.run(c.group, c.topic, c.partition, c.nextOffset, Date.now());
      }
    })();
  }

  /** Opens (creating if needed) the cursor store of a data directory. */
  static open(dataDir: string): CursorStore {
    const file = join(dataDir, CURSORS_FILE);
    try {
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(`CREATE TABLE IF NOT EXISTS cursors (
        grp         TEXT NOT NULL,
        topic       TEXT NOT NULL,
        partition   INTEGER NOT NULL,
        next_offset INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (grp, topic, partition)
      ) WITHOUT ROWID`);
      return new CursorStore(db);
    } catch (err) {
      throw new StorageError(`cannot open the cursor store ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The next offset `group` reads in topic/partition, or null if it never committed one. */
  get(group: string, topic: string, partition: number): number | null {
    const value = this.selectOne.get(group, topic, partition) as number | undefined;
    return value ?? null;
  }

  /** Durably records that `group` reads topic/partition from `nextOffset` on. */
  commit(group: string, topic: string, partition: number, nextOffset: number): void {
    this.write(group, topic, partition, nextOffset);
    this.told([{ group, topic, partition, nextOffset }]);
  }

  private write(group: string, topic: string, partition: number, nextOffset: number): void {
    if (!Number.isSafeInteger(nextOffset) || nextOffset < 0) throw new RangeError(`cursor offset must be a non-negative integer, got ${nextOffset}`);
    this.upsert.run(group, topic, partition, nextOffset, Date.now());
  }

  /** Several commits in one transaction (one fsync). */
  commitMany(group: string, entries: ReadonlyArray<{ topic: string; partition: number; nextOffset: number }>): void {
    this.db.transaction(() => {
      for (const e of entries) this.write(group, e.topic, e.partition, e.nextOffset);
    })();
    this.told(entries.map((e) => ({ group, topic: e.topic, partition: e.partition, nextOffset: e.nextOffset })));
  }

  list(): Cursor[] {
    return this.selectAll.all() as Cursor[];
  }

  /** Forgets every cursor of `group`; returns how many there were. */
  delete(group: string): number {
    const gone = this.forgotten(group);
    const n = this.deleteGroup.run(group).changes;
    this.told(gone);
    return n;
  }

  private forgotten(group: string): CursorChange[] {
    if (this.listeners.size === 0) return [];
    return (this.selectGroup.all(group) as { topic: string; partition: number }[]).map((c) => ({ group, topic: c.topic, partition: c.partition, nextOffset: null }));
  }

  /** Forgets the cursors of `group` in these partitions, in one transaction; returns how many there were. */
  deleteMany(group: string, entries: ReadonlyArray<{ topic: string; partition: number }>): number {
    const n = this.db.transaction(() => entries.reduce((n, e) => n + this.deleteOne.run(group, e.topic, e.partition).changes, 0))();
    this.told(entries.map((e) => ({ group, topic: e.topic, partition: e.partition, nextOffset: null })));
    return n;
  }

  /**
   * Moves every cursor of `from` to `to` (positions `to` already has win) and commits `entries`
   * for `to`, in one transaction: how a group stored under an old name is carried over.
   */
  renameAndCommit(from: string, to: string, entries: ReadonlyArray<{ topic: string; partition: number; nextOffset: number }>): void {
    const adopted = this.forgotten(from);
    this.db.transaction(() => {
      this.adoptGroup.run(to, from);
      this.deleteGroup.run(from);
      for (const e of entries) this.write(to, e.topic, e.partition, e.nextOffset);
    })();
    const moved = adopted.map((c) => ({ ...c, group: to, nextOffset: this.get(to, c.topic, c.partition) }));
    this.told([...adopted, ...moved, ...entries.map((e) => ({ group: to, topic: e.topic, partition: e.partition, nextOffset: e.nextOffset }))]);
  }

  /** Idempotent. */
  close(): void {
    if (this.db.open) this.db.close();
  }
}
