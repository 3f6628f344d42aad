// The durable election state (Raft's currentTerm and votedFor; KIP-595's quorum-state file): the
// current epoch and whom this node voted for in it, in `cluster.db` in the data directory. Every
// change is committed with synchronous=FULL (fsynced) before the method returns, so a vote is on
// disk before its answer leaves: a node that crashes and restarts cannot vote twice in one epoch
// (docs/replication.md, invariant 1).
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { ClusterStateError } from './errors.js';

export const CLUSTER_DATABASE_FILE = 'cluster.db';

export class ElectionState {
  #epoch: number;
  #votedFor: string | null;

  private constructor(
    private readonly db: Database.Database,
    private readonly file: string,
  ) {
    const row = db.prepare(`SELECT epoch, voted_for AS votedFor FROM election WHERE id = 1`).get() as { epoch: number; votedFor: string | null };
    this.#epoch = row.epoch;
    this.#votedFor = row.votedFor;
  }

  static open(dataDir: string): ElectionState {
    const file = join(dataDir, CLUSTER_DATABASE_FILE);
    try {
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(`CREATE TABLE IF NOT EXISTS election (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        epoch     INTEGER NOT NULL,
        voted_for TEXT
      );
      INSERT OR IGNORE INTO election (id, epoch, voted_for) VALUES (1, 0, NULL);`);
      return new ElectionState(db, file);
    } catch (err) {
      throw new ClusterStateError(file, (err as Error).message, { cause: err });
    }
  }

  get epoch(): number {
    return this.#epoch;
  }

  get votedFor(): string | null {
    return this.#votedFor;
  }

  /** Moves to `epoch` (never back) having voted for `votedFor` (null: not yet); durable on return. */
  set(epoch: number, votedFor: string | null): void {
    if (epoch < this.#epoch) throw new ClusterStateError(this.file, `epoch ${epoch} is below the current epoch ${this.#epoch}`);
    if (epoch === this.#epoch && votedFor === this.#votedFor) return;
    try {
      this.db.prepare(`UPDATE election SET epoch = ?, voted_for = ? WHERE id = 1`).run(epoch, votedFor);
    } catch (err) {
      throw new ClusterStateError(this.file, (err as Error).message, { cause: err });
    }
    this.#epoch = epoch;
    this.#votedFor = votedFor;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
