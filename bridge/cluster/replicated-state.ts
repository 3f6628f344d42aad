// State beside the records, replicated through the log (docs/replication.md, invariant 5): the
// replay readers' and Kafka groups' positions, retained messages, ... are written by the leader as
// records of internal topics (`__tributary_*`, keyed by what they describe; a null value forgets
// the key), so they are committed, replicated and truncated like telemetry. A follower applies
// each such record to its own tables as it fetches it, so a new leader already holds them. A new
// leader also writes every live key again once, so that a node which later catches up from the log
// (wiped, or new) finds them even after retention deleted the records they were first written in.
// The upstream forwarder skips `__tributary_*` topics (bridge/upstream/lane-table.ts).
import type { Log, StoredEntry } from '../../broker/log/log.js';
import { KEY_RELEASES_TOPIC } from '../../broker/log/idempotence-header.js';
import { decodeBatch } from '../../broker/log/record-batch.js';
import type { Logger } from '../logger.js';
import type { Role } from './cluster-node.js';
import { EPOCHS_TOPIC, INTERNAL_TOPIC_PREFIX } from './epoch-record.js';

/** A keyed record of an internal topic; `value` null forgets the key. */
export interface StateRecord {
  key: Buffer;
  value: Buffer | null;
}

/** One kind of replicated state: how a follower applies its records, and its live keys for a new leader. */
export interface StateKind {
  /** Applies records fetched from the leader, in log order. */
  apply(records: readonly StateRecord[]): void;
  /** Every live key as a record (written again by a new leader). */
  snapshot(): StateRecord[];
}

/** What ReplicatedState needs of the cluster node. */
export interface StateNode {
  readonly role: Role;
  onRoleChange(listener: (role: Role) => void): () => void;
  onEntriesFetched(listener: (entries: readonly StoredEntry[]) => void): () => void;
}

const SNAPSHOT_CHUNK = 500;
/** The state topics' names start with this; `__tributary_epochs` is the cluster node's own. */
export const STATE_TOPIC_PREFIX = INTERNAL_TOPIC_PREFIX;

export class ReplicatedState {
  readonly #kinds = new Map<string, StateKind>();
  /** Records fetched for a kind not registered yet (a node fetches while its parts still start), applied at registration. */
  readonly #early = new Map<string, StateRecord[][]>();
  readonly #created = new Set<string>();
  readonly #unwatch: Array<() => void> = [];
  #queue: Promise<void> = Promise.resolve();

  /**
   * `expected`: how many kinds will be registered; until then records of internal topics without
   * a kind are kept for it (the epochs topic is not one: it is the cluster node's own).
   */
  constructor(
    private readonly log: Log,
    private readonly node: StateNode,
    private readonly logger: Logger,
    private readonly expected: number,
  ) {
    this.#unwatch.push(node.onEntriesFetched((entries) => this.applyFetched(entries)));
    this.#unwatch.push(
      node.onRoleChange((role) => {
        if (role === 'leader') this.rewriteLive();
      }),
    );
  }

  /** Registers the kind of state kept in `topic` (a `__tributary_*` name). */
  register(topic: string, kind: StateKind): void {
    this.#kinds.set(topic, kind);
    const early = this.#early.get(topic) ?? [];
    this.#early.delete(topic);
    for (const records of early) this.applyTo(topic, kind, records);
  }

  /**
   * On the leader, appends `records` to `topic`, after every earlier write (one batch); resolves
   * once they are committed, or when they could not be (this node stopped leading: logged, not
   * thrown). Elsewhere nothing is written: followers change their state only from fetched records.
   */
  write(topic: string, records: readonly StateRecord[]): Promise<void> {
    if (records.length === 0 || this.node.role !== 'leader') return Promise.resolve();
    const appended = this.#queue.then(async () => {
      await this.ensureTopic(topic);
      const now = Date.now();
      // Not awaited here (wrapped): the next write is queued behind this append's call, not behind its commit.
      const pending = this.log.append(topic, 0, records.map((r) => ({ timestamp: now, key: r.key, value: r.value, headers: [] })));
      pending.catch(() => undefined);
      return { pending };
    });
    this.#queue = appended.then(
      () => undefined,
      () => undefined,
    );
    return appended.then(
      ({ pending }) => pending.then(() => undefined),
      (err: unknown) => this.logger.warn({ err, topic }, 'replicated state not written'),
    ).catch((err: unknown) => this.logger.warn({ err, topic }, 'replicated state not committed'));
  }

  close(): void {
    for (const unwatch of this.#unwatch.splice(0)) unwatch();
  }

  private async ensureTopic(topic: string): Promise<void> {
    if (this.#created.has(topic)) return;
    if (!this.log.topics().some((t) => t.name === topic)) await this.log.createTopic(topic, 1);
    this.#created.add(topic);
  }

  private applyFetched(entries: readonly StoredEntry[]): void {
    for (const entry of entries) {
      // The epochs are the cluster node's own, key releases the log's (its writer applies them).
      if (!entry.topic.startsWith(STATE_TOPIC_PREFIX) || entry.topic === EPOCHS_TOPIC || entry.topic === KEY_RELEASES_TOPIC) continue;
      const kind = this.#kinds.get(entry.topic);
      if (kind === undefined && this.#kinds.size >= this.expected) continue;
      const records = decodeBatch(entry.batch).records.map((r) => ({ key: r.key ?? Buffer.alloc(0), value: r.value }));
      if (kind === undefined) this.#early.set(entry.topic, [...(this.#early.get(entry.topic) ?? []), records]);
      else this.applyTo(entry.topic, kind, records);
    }
  }

  private applyTo(topic: string, kind: StateKind, records: readonly StateRecord[]): void {
    try {
      kind.apply(records);
    } catch (err) {
      this.logger.error({ err, topic }, 'a replicated state record could not be applied');
    }
  }

  /** A new leader writes every live key of every kind again (see the head of this file). */
  private rewriteLive(): void {
    for (const [topic, kind] of this.#kinds) {
      const records = kind.snapshot();
      for (let i = 0; i < records.length; i += SNAPSHOT_CHUNK) void this.write(topic, records.slice(i, i + SNAPSHOT_CHUNK));
    }
  }
}
