// The witness's log (docs/replication.md, "The witness"): the replication log's entries without
// their records, one row per entry header (witness-messages.ts), in `positions.db` in the witness's
// data directory. Appends and truncations are committed with synchronous=FULL (fsynced) before the
// method returns, so the position the witness reports in its next fetch is on its disk: it counts
// toward a commit under acks: quorum (invariant 2) and decides its votes (KIP-595's rule).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { EntryPosition } from '../../broker/log/log.js';
import { ClusterStateError } from './errors.js';
import type { EntryHeader } from './witness-messages.js';

export const POSITIONS_DATABASE_FILE = 'positions.db';

export class PositionLog {
  #last: EntryPosition;

  private constructor(
    private readonly db: Database.Database,
    private readonly file: string,
  ) {
    this.#last = this.readLast();
  }

  static open(dataDir: string): PositionLog {
    const file = join(dataDir, POSITIONS_DATABASE_FILE);
    try {
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(`CREATE TABLE IF NOT EXISTS entries (
        seq         INTEGER PRIMARY KEY,
        epoch       INTEGER NOT NULL,
        topic       TEXT NOT NULL,
        partition   INTEGER NOT NULL,
        base_offset INTEGER NOT NULL,
        last_offset INTEGER NOT NULL,
        size        INTEGER NOT NULL
      )`);
      return new PositionLog(db, file);
    } catch (err) {
      throw new ClusterStateError(file, (err as Error).message, { cause: err });
    }
  }

  /** The last entry held, fsynced; { epoch: -1, seq: 0 } when empty (as the log's lastEntry). */
  lastEntry(): EntryPosition {
    return this.#last;
  }

  get size(): number {
    return (this.db.prepare(`SELECT count(*) AS n FROM entries`).get() as { n: number }).n;
  }

  /** Appends headers after the last one, in order (a follower's log is a prefix of a leader's: positions only go up). */
  append(headers: readonly EntryHeader[]): void {
    let previous = this.#last;
    for (const h of headers) {
      if (h.seq <= previous.seq || h.epoch < previous.epoch) {
        throw new ClusterStateError(this.file, `entry ${h.seq} (epoch ${h.epoch}) does not follow ${previous.seq} (epoch ${previous.epoch})`);
      }
      previous = { seq: h.seq, epoch: h.epoch };
    }
    const insert = this.db.prepare(`INSERT INTO entries (seq, epoch, topic, partition, base_offset, last_offset, size) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.write(() => {
      for (const h of headers) insert.run(h.seq, h.epoch, h.topic, h.partition, h.baseOffset, h.lastOffset, h.size);
    });
    this.#last = previous;
  }

  /** Drops every entry after `seq` (a tail that diverged from the leader's log, KIP-101). */
  truncateAfter(seq: number): void {
    this.write(() => this.db.prepare(`DELETE FROM entries WHERE seq > ?`).run(seq));
    this.#last = this.readLast();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private write(work: () => void): void {
    try {
      this.db.transaction(work)();
    } catch (err) {
      throw new ClusterStateError(this.file, (err as Error).message, { cause: err });
    }
  }

  private readLast(): EntryPosition {
    const row = this.db.prepare(`SELECT seq, epoch FROM entries ORDER BY seq DESC LIMIT 1`).get() as { seq: number; epoch: number } | undefined;
    return row === undefined ? { epoch: -1, seq: 0 } : { seq: row.seq, epoch: row.epoch };
  }
}
