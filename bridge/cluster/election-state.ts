// The durable election state (Raft's currentTerm and votedFor; KIP-595's quorum-state file): the
// current epoch and whom this node voted for in it, in `cluster.db` in the data directory. Every
// change is committed with synchronous=FULL (fsynced) before the method returns, so a vote is on
// disk before its answer leaves: a node that crashes and restarts cannot vote twice in one epoch
// (docs/replication.md, invariant 1).
//
// `tributary cluster init` writes it first with a format mark (KRaft's meta.properties, written by
// `kafka-storage format`): the cluster's name, this node's id and a random directory id. A node
// whose cluster.db carries the mark is a new or known member; one without cluster.db and with an
// empty log was wiped (forgotten-vote.ts), never taken for a new one (docs/replication.md,
// "Bootstrapping a cluster").
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, openSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ClusterStateError } from './errors.js';

export const CLUSTER_DATABASE_FILE = 'cluster.db';

/** What `tributary cluster init` wrote: whose data directory this is. */
export interface FormatMark {
  /** cluster.name when it was formatted; null: the config named none. */
  cluster: string | null;
  nodeId: string;
  /** Random, one per formatting (KIP-853's directory id). */
  directoryId: string;
  /** ISO 8601. */
  formattedAt: string;
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS election (
  id        INTEGER PRIMARY KEY CHECK (id = 1),
  epoch     INTEGER NOT NULL,
  voted_for TEXT
);
INSERT OR IGNORE INTO election (id, epoch, voted_for) VALUES (1, 0, NULL);
CREATE TABLE IF NOT EXISTS format (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  cluster      TEXT,
  node_id      TEXT NOT NULL,
  directory_id TEXT NOT NULL,
  formatted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS single_node (
  id  INTEGER PRIMARY KEY CHECK (id = 1),
  end_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS directory (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  directory_id TEXT NOT NULL,
  replaced     INTEGER NOT NULL DEFAULT 0,
  confirmed    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS voter_directories (
  node_id      TEXT PRIMARY KEY,
  directory_id TEXT NOT NULL
);`;

export class ElectionState {
  #epoch: number;
  #votedFor: string | null;
  readonly #format: FormatMark | null;
  #singleNodeEnd: number;
  readonly #directoryId: string;
  #replaced: boolean;
  #confirmed: boolean;
  readonly #voterDirectories = new Map<string, string>();

  private constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    /** cluster.db did not exist before this open. */
    readonly created: boolean,
  ) {
    const row = db.prepare(`SELECT epoch, voted_for AS votedFor FROM election WHERE id = 1`).get() as { epoch: number; votedFor: string | null };
    this.#epoch = row.epoch;
    this.#votedFor = row.votedFor;
    const mark = db.prepare(`SELECT cluster, node_id AS nodeId, directory_id AS directoryId, formatted_at AS formattedAt FROM format WHERE id = 1`).get() as FormatMark | undefined;
    this.#format = mark ?? null;
    this.#singleNodeEnd = (db.prepare(`SELECT end_seq AS endSeq FROM single_node WHERE id = 1`).get() as { endSeq: number } | undefined)?.endSeq ?? 0;
    // KIP-853's directory id: init's, else one drawn when this start made cluster.db (or opened one of an earlier version).
    db.prepare(`INSERT OR IGNORE INTO directory (id, directory_id) VALUES (1, ?)`).run(mark?.directoryId ?? randomUUID());
    const directory = db.prepare(`SELECT directory_id AS directoryId, replaced, confirmed FROM directory WHERE id = 1`).get() as { directoryId: string; replaced: number; confirmed: number };
    this.#directoryId = directory.directoryId;
    this.#replaced = directory.replaced !== 0;
    this.#confirmed = directory.confirmed !== 0;
    for (const row of db.prepare(`SELECT node_id AS nodeId, directory_id AS directoryId FROM voter_directories`).all() as { nodeId: string; directoryId: string }[]) {
      this.#voterDirectories.set(row.nodeId, row.directoryId);
    }
  }

  /**
   * Writes a new cluster.db with the format mark, epoch 0 and no vote, once: it is built beside
   * and linked into place, which fails when cluster.db exists (also when another init raced this
   * one). The caller checked that the data directory holds no log.
   */
  static format(dataDir: string, mark: { cluster: string | null; nodeId: string }): FormatMark {
    const file = join(dataDir, CLUSTER_DATABASE_FILE);
    const building = `${file}.init-${process.pid}`;
    const format: FormatMark = { ...mark, directoryId: randomUUID(), formattedAt: new Date().toISOString() };
    try {
      rmSync(building, { force: true });
      const db = new Database(building);
      try {
        db.pragma('synchronous = FULL'); // rollback journal: the file is whole once closed
        db.exec(SCHEMA);
        db.prepare(`INSERT INTO format (id, cluster, node_id, directory_id, formatted_at) VALUES (1, ?, ?, ?, ?)`).run(format.cluster, format.nodeId, format.directoryId, format.formattedAt);
      } finally {
        db.close();
      }
      linkSync(building, file);
      syncDirectory(dirname(file));
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'exists already' : (err as Error).message;
      throw new ClusterStateError(file, reason, { cause: err });
    } finally {
      rmSync(building, { force: true });
    }
    return format;
  }

  static open(dataDir: string): ElectionState {
    const file = join(dataDir, CLUSTER_DATABASE_FILE);
    const created = !existsSync(file);
    try {
      const db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.exec(SCHEMA);
      return new ElectionState(db, file, created);
    } catch (err) {
      throw new ClusterStateError(file, (err as Error).message, { cause: err });
    }
  }

  /** The mark `tributary cluster init` wrote; null: cluster.db was made at a start (no init). */
  get format(): FormatMark | null {
    return this.#format;
  }

  /**
   * Refuses a cluster.db formatted for another node or cluster than the config names: a data
   * directory copied or mounted on the wrong node would vote with another node's votes.
   */
  checkFormat(nodeId: string, cluster: string | null): void {
    const mark = this.#format;
    if (mark === null) return;
    if (mark.nodeId !== nodeId) throw new ClusterStateError(this.file, `formatted for node '${mark.nodeId}', but cluster.nodeId is '${nodeId}'`);
    if (mark.cluster !== null && cluster !== null && mark.cluster !== cluster) throw new ClusterStateError(this.file, `formatted for cluster '${mark.cluster}', but cluster.name is '${cluster}'`);
  }

  /**
   * The last position this node held as a single node when it joined a cluster (it started with
   * data and no cluster.db); 0: none, or the cluster has committed past it since. Its log is not
   * truncated below it (docs/replication.md, "Bootstrapping a cluster").
   */
  get singleNodeEnd(): number {
    return this.#singleNodeEnd;
  }

  /** Durable on return; 0 clears it. */
  setSingleNodeEnd(seq: number): void {
    try {
      this.db.prepare(`INSERT INTO single_node (id, end_seq) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET end_seq = excluded.end_seq`).run(seq);
    } catch (err) {
      throw new ClusterStateError(this.file, (err as Error).message, { cause: err });
    }
    this.#singleNodeEnd = seq;
  }

  /** This data directory's id (KIP-853): init's format mark, else drawn when cluster.db was made or first opened by this version. */
  get directoryId(): string {
    return this.#directoryId;
  }

  /** A peer knew this node under another directory id: it was re-initialised (voter-directories.ts). */
  get replaced(): boolean {
    return this.#replaced;
  }

  /** Durable on return. */
  setReplaced(replaced: boolean): void {
    if (replaced === this.#replaced) return;
    this.write(`UPDATE directory SET replaced = ? WHERE id = 1`, replaced ? 1 : 0);
    this.#replaced = replaced;
  }

  /** A leader's fetch answer named this directory id for this node: the cluster counts it (voter-directories.ts). */
  get confirmed(): boolean {
    return this.#confirmed;
  }

  /** Durable on return. */
  setConfirmed(): void {
    if (this.#confirmed) return;
    this.write(`UPDATE directory SET confirmed = 1 WHERE id = 1`);
    this.#confirmed = true;
  }

  /** The directory id this node knows for voter `nodeId`; null: none known. */
  voterDirectory(nodeId: string): string | null {
    return this.#voterDirectories.get(nodeId) ?? null;
  }

  /** Every voter directory this node knows (its own not among them). */
  voterDirectories(): ReadonlyMap<string, string> {
    return this.#voterDirectories;
  }

  /** Durable on return. */
  setVoterDirectory(nodeId: string, directoryId: string): void {
    if (this.#voterDirectories.get(nodeId) === directoryId) return;
    this.write(`INSERT INTO voter_directories (node_id, directory_id) VALUES (?, ?) ON CONFLICT (node_id) DO UPDATE SET directory_id = excluded.directory_id`, nodeId, directoryId);
    this.#voterDirectories.set(nodeId, directoryId);
  }

  private write(sql: string, ...params: (string | number)[]): void {
    try {
      this.db.prepare(sql).run(...params);
    } catch (err) {
      throw new ClusterStateError(this.file, (err as Error).message, { cause: err });
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

/** fsync of a directory, so that a file just linked into it survives a power cut. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
