// aedes's session store on SQLite (`mqtt.db` beside the log): subscriptions of persistent
// sessions, retained messages, wills, messages queued for offline clients and inbound QoS 2
// packets awaiting PUBREL. What a client was told is stored must survive a restart and a power
// cut, so every change is one fsynced statement or transaction (synchronous = FULL), except the
// two bookkeeping writes of a QoS 1 delivery, whose loss in a power cut costs only a resend
// (isQos1Publish).
//
// It implements the async persistence interface aedes 1.x calls (aedes-persistence's
// asyncPersistence.js is the reference) and passes that package's abstract test suite.
// Subscriptions and retained messages are also kept in memory, because aedes asks
// subscriptionsByTopic on every QoS > 0 publish; queues, incoming packets and wills are read from
// SQLite when needed, so an offline client's backlog does not sit in memory.
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { SessionStoreError } from './errors.js';
import { TopicFilter } from '../shared/topic-filter.js';
import { isAuthorized } from './aedes-internals.js';
import { QueueSizes, type QueueBounds, type QueueFullReason } from './queue-bounds.js';
import { fromRow, toRow, type StoredPacket } from './stored-packet.js';

const require = createRequire(import.meta.url);
// qlobber's aedes flavour: a topic trie of {clientId, topic, qos} entries; no typings are shipped.
const QlobberSub = require('qlobber/aedes/qlobber-sub') as new (options: object) => SubscriptionTrie;
const Packet = require('aedes-packet') as new (original: object) => StoredPacket;

interface SubscriptionTrie {
  add(topic: string, sub: TrieEntry): void;
  remove(topic: string, sub: { clientId: string; topic: string }): void;
  match(topic: string): TrieEntry[];
  subscriptionsCount: number;
}

interface TrieEntry {
  clientId: string;
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}

interface SubscriptionOptions {
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

type ClientRef = { id: string };

const SCHEMA_VERSION = 1;
/** Queued messages read at a time when a client takes its queue. */
const OUTGOING_PAGE = 256;
/** Queued messages deleted per statement when a session expires. */
const EXPIRY_CHUNK = 10_000;
/** What a queued row costs, in SQL: the packet's JSON and the payload, in bytes. */
const ROW_BYTES = 'octet_length(packet) + ifnull(length(payload), 0)';
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, packet TEXT NOT NULL, payload BLOB);
CREATE TABLE IF NOT EXISTS subscriptions (
  client_id TEXT NOT NULL, topic TEXT NOT NULL, options TEXT NOT NULL, PRIMARY KEY (client_id, topic)
) WITHOUT ROWID;
-- Deliveries queued for a client, in order; message_id is set once aedes assigns one.
CREATE TABLE IF NOT EXISTS outgoing (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL, broker_id TEXT, broker_counter INTEGER,
  message_id INTEGER, packet TEXT NOT NULL, payload BLOB
);
CREATE INDEX IF NOT EXISTS outgoing_by_client ON outgoing (client_id, seq);
CREATE TABLE IF NOT EXISTS incoming (
  client_id TEXT NOT NULL, message_id INTEGER NOT NULL, packet TEXT NOT NULL, payload BLOB,
  PRIMARY KEY (client_id, message_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wills (client_id TEXT PRIMARY KEY, broker_id TEXT, packet TEXT NOT NULL, payload BLOB);
-- The user who made each persistent session (NULL: an anonymous client); see session-owners.ts.
CREATE TABLE IF NOT EXISTS session_owners (client_id TEXT PRIMARY KEY, username TEXT);
-- Persistent sessions (clean session off): offline_since is NULL while the client is connected,
-- else when it went away (ms since the epoch); a session offline too long expires.
CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY, offline_since INTEGER) WITHOUT ROWID;
`;

export interface SqlitePersistenceOptions {
  file: string;
  logger?: Logger;
  /** Bounds of each offline session's queue; a message that does not fit is not queued. */
  queue?: QueueBounds;
  /** A message was not queued for an offline session because its queue is full. */
  onQueueFull?: (clientId: string, reason: QueueFullReason) => void;
  /** Queued messages read at a time when a client takes its queue (256). */
  outgoingPage?: number;
  /** A QoS 2 handshake completed (PUBREL): the packet id may carry a new message. A promise returned is awaited before PUBCOMP. */
  onIncomingReleased?: (clientId: string, messageId: number) => unknown;
  /** A client's inbound QoS 2 state was dropped (a clean session began). */
  onIncomingCleaned?: (clientId: string) => void;
  /** delWill has run for a client (the will deleted, or none there, or the delete failed). */
  onWillDeleted?: (clientId: string) => void;
  /** A persistent session's subscriptions changed on this broker; not told of applySubscriptions' (replication). */
  onSubscriptionsChanged?: (change: SubscriptionChange) => void;
  /** A retained message was stored (null: cleared) by this broker; not told of applyRetained's (replication). */
  onRetainedChanged?: (topic: string, packet: StoredPacket | null) => void;
  /** A session expired (expireSessions) with messages a share group had queued on it: `queued`, read before its queue went. */
  onSharedQueueExpired?: (clientId: string, queued: StoredPacket[]) => void;
}

/** A change of a persistent session's subscriptions (a cluster leader's go to its followers). */
export type SubscriptionChange =
  | { op: 'add'; clientId: string; subs: Array<SubscriptionOptions & { topic: string }> }
  | { op: 'remove'; clientId: string; topics: string[] }
  | { op: 'clean'; clientId: string }
  /** The user who owns the session (session-owners.ts; null: anonymous), or none any more. */
  | { op: 'owner'; clientId: string; username: string | null }
  | { op: 'disown'; clientId: string };

export class SqlitePersistence {
  readonly #db: Database.Database;
  readonly #retained = new Map<string, StoredPacket>();
  readonly #subscriptions = new Map<string, Map<string, SubscriptionOptions>>();
  readonly #trie = new QlobberSub({ wildcard_one: '+', wildcard_some: '#', separator: '/' });
  readonly #sql;
  #broker: { id: string } | undefined;
  #destroyed = false;
  #subscriptionsVersion = 0;
  /** Size of each client's queue, and its bounds. */
  readonly #queues: QueueSizes;

  constructor(private readonly options: SqlitePersistenceOptions) {
    this.#queues = new QueueSizes(options.queue, options.logger, options.onQueueFull);
    try {
      this.#db = new Database(options.file);
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL');
      this.#db.exec(SCHEMA);
      this.checkVersion();
    } catch (err) {
      throw new SessionStoreError(`cannot open ${options.file}: ${(err as Error).message}`, { cause: err });
    }
    const db = this.#db;
    this.#sql = {
      putRetained: db.prepare('INSERT OR REPLACE INTO retained (topic, packet, payload) VALUES (?, ?, ?)'),
      delRetained: db.prepare('DELETE FROM retained WHERE topic = ?'),
      putSub: db.prepare('INSERT OR REPLACE INTO subscriptions (client_id, topic, options) VALUES (?, ?, ?)'),
      delSub: db.prepare('DELETE FROM subscriptions WHERE client_id = ? AND topic = ?'),
      delSubs: db.prepare('DELETE FROM subscriptions WHERE client_id = ?'),
      enqueue: db.prepare('INSERT INTO outgoing (client_id, broker_id, broker_counter, message_id, packet, payload) VALUES (?, ?, ?, ?, ?, ?)'),
      findOutgoing: db.prepare(
        `SELECT seq, broker_id AS brokerId, broker_counter AS brokerCounter, ${ROW_BYTES} AS bytes FROM outgoing WHERE client_id = @client AND ((broker_id = @broker AND broker_counter = @counter)
           OR (broker_id IS NOT @broker AND message_id = @messageId)) ORDER BY seq LIMIT 1`,
      ),
      setOutgoingId: db.prepare('UPDATE outgoing SET message_id = ? WHERE seq = ?'),
      replaceOutgoing: db.prepare('UPDATE outgoing SET broker_id = ?, broker_counter = ?, message_id = ?, packet = ?, payload = ? WHERE seq = ?'),
      outgoingById: db.prepare('SELECT seq, message_id, packet, payload FROM outgoing WHERE client_id = ? AND message_id = ? ORDER BY seq LIMIT 1'),
      delOutgoing: db.prepare('DELETE FROM outgoing WHERE seq = ?'),
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      outgoingPage: db.prepare('SELECT seq, message_id, packet, payload FROM outgoing WHERE client_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?'),
      lastOutgoing: db.prepare('SELECT max(seq) FROM outgoing WHERE client_id = ?').pluck(),
      putIncoming: db.prepare('INSERT OR REPLACE INTO incoming (client_id, message_id, packet, payload) VALUES (?, ?, ?, ?)'),
      getIncoming: db.prepare('SELECT message_id, packet, payload FROM incoming WHERE client_id = ? AND message_id = ?'),
      delIncoming: db.prepare('DELETE FROM incoming WHERE client_id = ? AND message_id = ?'),
      cleanIncoming: db.prepare('DELETE FROM incoming WHERE client_id = ?'),
      putWill: db.prepare('INSERT OR REPLACE INTO wills (client_id, broker_id, packet, payload) VALUES (?, ?, ?, ?)'),
      getWill: db.prepare('SELECT packet, payload FROM wills WHERE client_id = ?'),
      delWill: db.prepare('DELETE FROM wills WHERE client_id = ?'),
      allWills: db.prepare('SELECT broker_id, packet, payload FROM wills'),
      sessionOnline: db.prepare('INSERT INTO sessions (client_id, offline_since) VALUES (?, NULL) ON CONFLICT (client_id) DO UPDATE SET offline_since = NULL'),
      sessionOffline: db.prepare('INSERT INTO sessions (client_id, offline_since) VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE SET offline_since = excluded.offline_since'),
      delSession: db.prepare('DELETE FROM sessions WHERE client_id = ?'),
      delOwner: db.prepare('DELETE FROM session_owners WHERE client_id = ?'),
      expiredSessions: db.prepare('SELECT client_id FROM sessions WHERE offline_since IS NOT NULL AND offline_since <= ? ORDER BY offline_since').pluck(),
      sessionOfflineSince: db.prepare('SELECT offline_since FROM sessions WHERE client_id = ?'),
      // What share groups queued on a session (shared-subscriptions.ts gives such a copy the group's broker id).
      sharedQueued: db.prepare(`SELECT packet, payload FROM outgoing WHERE client_id = ? AND instr(broker_id, '|$share/') > 0 ORDER BY seq`),
      delOutgoingChunk: db.prepare('DELETE FROM outgoing WHERE seq IN (SELECT seq FROM outgoing WHERE client_id = ? ORDER BY seq LIMIT ?)'),
    };
  }

  get broker(): { id: string } | undefined {
    return this.#broker;
  }

  private checkVersion(): void {
    const version = this.#db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).pluck().get() as string | undefined;
    if (version === undefined) this.#db.prepare(`INSERT INTO meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
    else if (Number(version) > SCHEMA_VERSION) throw new Error(`schema version ${version} is newer than this Tributary knows (${SCHEMA_VERSION})`);
  }

  /** Loads subscriptions, retained messages and the size of each queue into memory. */
  async setup(broker: { id: string; counter?: number }): Promise<void> {
    this.#broker = broker;
    // aedes numbers the packets it publishes from 1 in every run, and its id is the node's, the
    // same after a restart; a queued delivery is found again by (broker id, counter). The count
    // goes on from the previous run's, or a live message could take the place of an older one
    // still queued (that one then lost, the new one left queued).
    if (typeof broker.counter === 'number') {
      const last = this.#db.prepare('SELECT max(broker_counter) FROM outgoing WHERE broker_id = ?').pluck().get(broker.id) as number | null;
      broker.counter = Math.max(broker.counter, last ?? 0);
    }
    for (const row of this.#db.prepare(`SELECT client_id, count(*) AS messages, sum(${ROW_BYTES}) AS bytes FROM outgoing GROUP BY client_id`).all() as Array<{
      client_id: string;
      messages: number;
      bytes: number;
    }>) {
      this.#queues.load(row.client_id, { messages: row.messages, bytes: row.bytes });
    }
    // Every session is offline when the broker starts: those connected when it stopped (or
    // crashed) since now, those with state but no record (a file from before sessions were
    // recorded) too, so that either can expire.
    const now = Date.now();
    this.write(() =>
      this.#db.transaction(() => {
        this.#db.prepare('UPDATE sessions SET offline_since = ? WHERE offline_since IS NULL').run(now);
        this.#db
          .prepare('INSERT OR IGNORE INTO sessions (client_id, offline_since) SELECT client_id, ? FROM (SELECT client_id FROM subscriptions UNION SELECT client_id FROM outgoing UNION SELECT client_id FROM incoming)')
          .run(now);
      })(),
    );
    for (const row of this.#db.prepare('SELECT topic, packet, payload FROM retained').all() as Array<{ topic: string; packet: string; payload: Buffer | null }>) {
      this.#retained.set(row.topic, fromRow(row.packet, row.payload));
    }
    for (const row of this.#db.prepare('SELECT client_id, topic, options FROM subscriptions').all() as Array<{ client_id: string; topic: string; options: string }>) {
      this.remember(row.client_id, row.topic, JSON.parse(row.options) as SubscriptionOptions);
    }
  }

  async storeRetained(packet: StoredPacket): Promise<void> {
    // [MQTT-3.3.1-10] an empty retained payload deletes the retained message.
    const kept = packet.payload.length === 0 ? null : { ...packet };
    this.applyRetained(packet.topic, kept);
    this.options.onRetainedChanged?.(packet.topic, kept);
  }

  /** Stores (null: clears) the retained message of `topic`; what a cluster follower applies from its leader. */
  applyRetained(topic: string, packet: StoredPacket | null): void {
    if (packet === null) {
      this.write(() => this.#sql.delRetained.run(topic));
      this.#retained.delete(topic);
      return;
    }
    this.write(() => this.#sql.putRetained.run(topic, ...toRow(packet)));
    this.#retained.set(topic, packet);
  }

  /** Every retained message, by topic. */
  retainedMessages(): Array<[string, StoredPacket]> {
    return [...this.#retained];
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    const filters = patterns.map((p) => new TopicFilter(p));
    const retained = [...this.#retained];
    return Readable.from(filters.flatMap((filter) => retained.filter(([topic]) => filter.match(topic) !== null).map(([, packet]) => packet)));
  }

  async addSubscriptions(client: ClientRef, subs: Array<SubscriptionOptions & { topic: string }>): Promise<void> {
    this.putSubscriptions(client.id, subs);
    this.options.onSubscriptionsChanged?.({ op: 'add', clientId: client.id, subs });
  }

  async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    this.dropSubscriptions(client.id, topics);
    this.options.onSubscriptionsChanged?.({ op: 'remove', clientId: client.id, topics });
  }

  /** Makes a change of a session's subscriptions; what a cluster follower applies from its leader. */
  applySubscriptions(change: SubscriptionChange): void {
    if (change.op === 'add') {
      this.putSubscriptions(change.clientId, change.subs);
      // Its expiry clock (session-expiry.ts) runs here from now, should this node lead while the
      // session is offline; the client connecting here starts it afresh.
      if (this.#sql.sessionOfflineSince.get(change.clientId) === undefined) this.write(() => this.#sql.sessionOffline.run(change.clientId, Date.now()));
    }
    else if (change.op === 'remove') this.dropSubscriptions(change.clientId, change.topics);
    else if (change.op === 'owner') this.putOwner(change.clientId, change.username);
    else if (change.op === 'disown') this.write(() => this.#sql.delOwner.run(change.clientId));
    else this.forgetSubscriptions(change.clientId);
  }

  /** Every persistent session's subscriptions, by client id. */
  allSubscriptions(): Array<[string, Array<SubscriptionOptions & { topic: string }>]> {
    return [...this.#subscriptions].map(([clientId, subs]) => [clientId, [...subs].map(([topic, options]) => ({ topic, ...options }))]);
  }

  private putSubscriptions(clientId: string, subs: Array<SubscriptionOptions & { topic: string }>): void {
    this.write(() =>
      this.#db.transaction(() => {
        for (const { topic, ...options } of subs) this.#sql.putSub.run(clientId, topic, JSON.stringify(options));
      })(),
    );
    for (const { topic, ...options } of subs) this.remember(clientId, topic, options);
  }

  private dropSubscriptions(clientId: string, topics: string[]): void {
    const client = { id: clientId };
    this.write(() =>
      this.#db.transaction(() => {
        for (const topic of topics) this.#sql.delSub.run(client.id, topic);
      })(),
    );
    const stored = this.#subscriptions.get(client.id);
    if (stored === undefined) return;
    this.#subscriptionsVersion++;
    for (const topic of topics) {
      const sub = stored.get(topic);
      if (sub === undefined) continue;
      if (sub.qos > 0 && !isShared(topic)) this.#trie.remove(topic, { clientId: client.id, topic });
      stored.delete(topic);
    }
    if (stored.size === 0) this.#subscriptions.delete(client.id);
  }

  async subscriptionsByClient(client: ClientRef): Promise<Array<SubscriptionOptions & { topic: string }>> {
    return [...(this.#subscriptions.get(client.id) ?? [])].map(([topic, options]) => ({ topic, ...options }));
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return { subsCount: this.#trie.subscriptionsCount, clientsCount: this.#subscriptions.size };
  }

  async subscriptionsByTopic(topic: string): Promise<TrieEntry[]> {
    // Asked on every QoS > 0 publish; a gateway often has no persistent subscriber at all.
    return this.#trie.subscriptionsCount === 0 ? [] : this.#trie.match(topic);
  }

  /** Whether a persistent session's QoS > 0 subscription matches `topic` (so a publish there is queued for it while offline). */
  hasSubscriber(topic: string): boolean {
    return this.#trie.subscriptionsCount > 0 && this.#trie.match(topic).length > 0;
  }

  /** Changes whenever hasSubscriber() may answer otherwise. */
  get subscriptionsVersion(): number {
    return this.#subscriptionsVersion;
  }

  async cleanSubscriptions(client: ClientRef): Promise<void> {
    if (!this.#subscriptions.has(client.id)) return;
    this.forgetSubscriptions(client.id);
    this.options.onSubscriptionsChanged?.({ op: 'clean', clientId: client.id });
  }

  private forgetSubscriptions(clientId: string): void {
    const client = { id: clientId };
    const stored = this.#subscriptions.get(client.id);
    if (stored === undefined) return;
    this.#subscriptionsVersion++;
    this.write(() => this.#sql.delSubs.run(client.id));
    for (const [topic, sub] of stored) if (sub.qos > 0 && !isShared(topic)) this.#trie.remove(topic, { clientId: client.id, topic });
    this.#subscriptions.delete(client.id);
  }

  async outgoingEnqueue(sub: ClientRef & { clientId: string }, packet: StoredPacket): Promise<void> {
    return this.outgoingEnqueueCombi([sub], packet);
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: StoredPacket): Promise<void> {
    // aedes calls this for every QoS > 0 publish, usually with nobody offline to queue for.
    if (subs.length === 0) return;
    const queued = new Packet(packet);
    const [json, payload] = toRow(queued);
    const bytes = Buffer.byteLength(json) + (payload?.length ?? 0);
    const admitted = subs.filter((sub) => this.#queues.admit(sub.clientId, bytes));
    if (admitted.length === 0) return;
    this.write(() =>
      this.#db.transaction(() => {
        for (const sub of admitted) this.#sql.enqueue.run(sub.clientId, queued.brokerId ?? null, queued.brokerCounter ?? null, null, json, payload);
      })(),
    );
    for (const sub of admitted) this.#queues.resize(sub.clientId, 1, bytes);
  }

  /** Messages queued for all clients (in flight included). */
  get queuedMessages(): number {
    return this.#queues.messages();
  }

  /** A persistent session's client connected (a clean one's state is gone: nothing to record). */
  sessionOnline(clientId: string, clean: boolean): void {
    this.#queues.online(clientId);
    // Most clients are clean sessions: they cost a read, not a write (and its fsync), per connect.
    if (!clean) this.write(() => this.#sql.sessionOnline.run(clientId));
    else if (this.#sql.sessionOfflineSince.get(clientId) !== undefined) this.write(() => this.#sql.delSession.run(clientId));
  }

  /** A client disconnected: a persistent session's expiry clock starts. */
  sessionOffline(clientId: string, clean: boolean, now = Date.now()): void {
    this.#queues.offline(clientId);
    if (!clean) this.write(() => this.#sql.sessionOffline.run(clientId, now));
  }

  /**
   * Removes the persistent sessions offline for `maxOfflineMs` or longer, with their
   * subscriptions, queues and inbound QoS 2 state (MQTT 3.1.1 §4.1: the server may discard
   * session state by policy; MQTT 5's Session Expiry Interval makes it per client). A queue is
   * deleted in chunks, yielding between them, so a large one does not stall the broker. Returns
   * the client ids removed.
   */
  async expireSessions(maxOfflineMs: number, now = Date.now()): Promise<Array<{ clientId: string; messages: number }>> {
    const expired: Array<{ clientId: string; messages: number }> = [];
    for (const clientId of this.#sql.expiredSessions.all(now - maxOfflineMs) as string[]) {
      if (this.#destroyed) break;
      const messages = this.#queues.messages(clientId);
      const sharedQueued = this.sharedQueued(clientId);
      await this.cleanSubscriptions({ id: clientId });
      this.write(() =>
        this.#db.transaction(() => {
          this.#sql.cleanIncoming.run(clientId);
          this.#sql.delSession.run(clientId);
          // Its client id is free again (session-owners.ts), unless its owner came back meanwhile.
          if (!this.#queues.isOnline(clientId)) this.#sql.delOwner.run(clientId);
        })(),
      );
      if (!this.#queues.isOnline(clientId)) this.options.onSubscriptionsChanged?.({ op: 'disown', clientId });
      this.options.onIncomingCleaned?.(clientId);
      for (;;) {
        // Stop if the client came back meanwhile: what is left of its queue is its again.
        if (this.#destroyed || this.#queues.isOnline(clientId)) break;
        const { changes } = this.write(() => this.#sql.delOutgoingChunk.run(clientId, EXPIRY_CHUNK));
        if (changes < EXPIRY_CHUNK) {
          this.#queues.forget(clientId);
          break;
        }
        this.#queues.resize(clientId, -changes, 0);
        await new Promise((resolve) => setImmediate(resolve));
      }
      // After its subscriptions are gone: a share group does not queue them on it again.
      if (sharedQueued.length > 0 && !this.#queues.isOnline(clientId)) this.options.onSharedQueueExpired?.(clientId, sharedQueued);
      expired.push({ clientId, messages });
    }
    return expired;
  }

  /** The messages share groups queued on `clientId`'s session, oldest first (shared-subscriptions.ts). */
  sharedQueued(clientId: string): StoredPacket[] {
    const rows = this.#sql.sharedQueued.all(clientId) as Array<{ packet: string; payload: Buffer | null }>;
    return rows.map((row) => fromRow(row.packet, row.payload));
  }

  /** Records the packet id aedes gave a queued delivery (or replaces a packet holding that id). */
  async outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    const match = this.#sql.findOutgoing.get({ client: client.id, broker: packet.brokerId ?? null, counter: packet.brokerCounter ?? null, messageId: packet.messageId ?? null }) as
      | { seq: number; brokerId: string | null; brokerCounter: number | null; bytes: number }
      | undefined;
    if (match === undefined) throw new Error('no such packet');
    if (match.brokerId === (packet.brokerId ?? null) && match.brokerCounter === (packet.brokerCounter ?? null)) {
      this.write(() => this.#sql.setOutgoingId.run(packet.messageId ?? null, match.seq), isQos1Publish(packet));
    } else {
      const [json, payload] = toRow(packet);
      this.write(() => this.#sql.replaceOutgoing.run(packet.brokerId ?? null, packet.brokerCounter ?? null, packet.messageId ?? null, json, payload, match.seq));
      this.#queues.resize(client.id, 0, Buffer.byteLength(json) + (payload?.length ?? 0) - match.bytes);
    }
  }

  async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket | undefined> {
    const row = this.#sql.outgoingById.get(client.id, packet.messageId) as { seq: number; message_id: number; packet: string; payload: Buffer | null } | undefined;
    if (row === undefined) return undefined;
    const stored = fromRow(row.packet, row.payload);
    this.write(() => this.#sql.delOutgoing.run(row.seq), isQos1Publish(stored));
    this.#queues.resize(client.id, -1, -(Buffer.byteLength(row.packet) + (row.payload?.length ?? 0)));
    return withMessageId(stored, row.message_id);
  }

  /**
   * The client's queue, oldest first, read a page at a time as the consumer asks for more: aedes
   * writes each message and waits for the socket to drain before it takes the next, so a backlog
   * of any length costs at most a page or two of memory. The stream ends at the message that was
   * newest when it was opened: what is queued after that (the client is online again) aedes
   * delivers itself, and reading it here too would send it twice.
   */
  outgoingStream(client: ClientRef): Readable {
    const last = (this.#sql.lastOutgoing.get(client.id) as number | null) ?? 0;
    let after = 0;
    const page = this.#sql.outgoingPage;
    const pageSize = this.options.outgoingPage ?? OUTGOING_PAGE;
    return new Readable({
      objectMode: true,
      // As Readable.from's: read() pushes a page whenever the buffer runs dry.
      highWaterMark: 1,
      read() {
        let rows: Array<{ seq: number; message_id: number | null; packet: string; payload: Buffer | null }>;
        try {
          rows = page.all(client.id, after, last, pageSize) as typeof rows;
        } catch (err) {
          this.destroy(err as Error);
          return;
        }
        for (const row of rows) this.push(withMessageId(fromRow(row.packet, row.payload), row.message_id));
        if (rows.length < pageSize) this.push(null);
        else after = rows[rows.length - 1]!.seq;
      },
    });
  }

  async incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    const stored = new Packet(packet);
    stored.messageId = packet.messageId;
    this.write(() => this.#sql.putIncoming.run(client.id, packet.messageId, ...toRow(stored)));
  }

  async incomingGetPacket(client: ClientRef, packet: { messageId?: number; cmd?: string }): Promise<StoredPacket> {
    const row = this.#sql.getIncoming.get(client.id, packet.messageId) as { message_id: number; packet: string; payload: Buffer | null } | undefined;
    if (row === undefined) {
      // A PUBREL for a QoS 2 message this broker never received: a former cluster leader did (and
      // its key came here with the batch). The handshake is complete [MQTT-4.3.3-2]: release it.
      if (packet.cmd === 'pubrel') await this.options.onIncomingReleased?.(client.id, packet.messageId!);
      throw new Error('no such packet');
    }
    return fromRow(row.packet, row.payload);
  }

  async incomingDelPacket(client: ClientRef, packet: { messageId?: number }): Promise<void> {
    const { changes } = this.write(() => this.#sql.delIncoming.run(client.id, packet.messageId));
    if (changes === 0) throw new Error('no such packet');
    // Awaited: aedes sends PUBCOMP after this, so a replicated release is committed first.
    await this.options.onIncomingReleased?.(client.id, packet.messageId!);
  }

  async cleanIncoming(client: ClientRef): Promise<void> {
    // aedes calls this when any clean-session connection closes, also one refused at CONNECT (a
    // wrong password, another user's client id): such a connection bears the id it asked for, and
    // must not wipe the QoS 2 state of the client that really has it.
    if (!isAuthorized(client)) return;
    this.write(() => this.#sql.cleanIncoming.run(client.id));
    this.options.onIncomingCleaned?.(client.id);
  }

  async putWill(client: ClientRef, packet: StoredPacket): Promise<void> {
    packet.brokerId = this.#broker!.id;
    packet.clientId = client.id;
    this.write(() => this.#sql.putWill.run(client.id, packet.brokerId, ...toRow(packet)));
  }

  async getWill(client: ClientRef): Promise<StoredPacket | undefined> {
    const row = this.#sql.getWill.get(client.id) as { packet: string; payload: Buffer | null } | undefined;
    return row === undefined ? undefined : fromRow(row.packet, row.payload);
  }

  async delWill(client: ClientRef): Promise<StoredPacket | undefined> {
    try {
      const will = await this.getWill(client);
      if (will !== undefined) this.write(() => this.#sql.delWill.run(client.id));
      return will;
    } finally {
      this.options.onWillDeleted?.(client.id);
    }
  }

  /** The wills of clients whose broker is not alive (here: wills left by a previous run). */
  streamWill(brokers: Record<string, unknown> = {}): Readable {
    const rows = this.#sql.allWills.all() as Array<{ broker_id: string; packet: string; payload: Buffer | null }>;
    return Readable.from(rows.filter((row) => !brokers[row.broker_id]).map((row) => fromRow(row.packet, row.payload)));
  }

  /** The persistent sessions holding the shared subscription `topic` (`$share/...`), with its options; read when no member is connected. */
  sharedSubscribers(topic: string): Array<{ clientId: string; qos: number; rap?: boolean; subscriptionIdentifier?: number }> {
    const subscribers: Array<{ clientId: string; qos: number; rap?: boolean; subscriptionIdentifier?: number }> = [];
    for (const [clientId, topics] of this.#subscriptions) {
      const sub = topics.get(topic);
      if (sub !== undefined) subscribers.push({ clientId, qos: sub.qos, ...(sub.rap === undefined ? {} : { rap: sub.rap }), ...(sub.subscriptionIdentifier === undefined ? {} : { subscriptionIdentifier: sub.subscriptionIdentifier }) });
    }
    return subscribers;
  }

  /** Every shared subscription (`$share/...`) a persistent session holds. */
  sharedTopics(): string[] {
    const topics = new Set<string>();
    for (const subs of this.#subscriptions.values()) for (const topic of subs.keys()) if (isShared(topic)) topics.add(topic);
    return [...topics];
  }

  getClientList(topic: string): Readable {
    return Readable.from([...this.#subscriptions].filter(([, topics]) => topics.has(topic)).map(([clientId]) => clientId));
  }

  /** The user who made the persistent session `clientId` (null: anonymous), or undefined for none. */
  sessionOwner(clientId: string): string | null | undefined {
    const row = this.#db.prepare('SELECT username FROM session_owners WHERE client_id = ?').get(clientId) as { username: string | null } | undefined;
    return row?.username;
  }

  claimSession(clientId: string, username: string | null): void {
    this.putOwner(clientId, username);
    this.options.onSubscriptionsChanged?.({ op: 'owner', clientId, username });
  }

  releaseSession(clientId: string): void {
    this.write(() => this.#sql.delOwner.run(clientId));
    this.options.onSubscriptionsChanged?.({ op: 'disown', clientId });
  }

  private putOwner(clientId: string, username: string | null): void {
    this.write(() => this.#db.prepare('INSERT OR REPLACE INTO session_owners (client_id, username) VALUES (?, ?)').run(clientId, username));
  }

  /** Every owned session's owner, by client id. */
  sessionOwners(): Array<[string, string | null]> {
    return (this.#db.prepare('SELECT client_id, username FROM session_owners').all() as Array<{ client_id: string; username: string | null }>).map((r) => [r.client_id, r.username]);
  }

  /** Closes the database. Calling it again does nothing. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#db.close();
  }

  private remember(clientId: string, topic: string, options: SubscriptionOptions): void {
    let stored = this.#subscriptions.get(clientId);
    if (stored === undefined) this.#subscriptions.set(clientId, (stored = new Map()));
    const previous = stored.get(topic);
    this.#subscriptionsVersion++;
    // A shared subscription is delivered by its share group (shared-subscriptions.ts), not through the trie.
    if (options.qos > 0 && !isShared(topic)) {
      this.#trie.add(topic, { clientId, topic, qos: options.qos, rh: options.rh, rap: options.rap, nl: options.nl } as TrieEntry);
    } else if (previous !== undefined && previous.qos > 0 && !isShared(topic)) {
      this.#trie.remove(topic, { clientId, topic });
    }
    stored.set(topic, options);
  }

  /** Runs a write; a failure becomes a SessionStoreError naming the file. */
  private write<T>(run: () => T, lossTolerable = false): T {
    try {
      if (!lossTolerable) return run();
      // Committed without its own fsync: the next fsynced commit (any other write here) covers it.
      // A process crash loses nothing; a power cut may lose it, which for the bookkeeping of a QoS
      // 1 delivery means sending it again, as QoS 1 allows (isQos1Publish).
      this.#sql.syncNormal.run();
      try {
        return run();
      } finally {
        this.#sql.syncFull.run();
      }
    } catch (err) {
      this.options.logger?.error({ err }, 'MQTT session store write failed');
      throw new SessionStoreError(`cannot write ${this.options.file}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * Whether losing a write about this queued packet costs at most a duplicate: a QoS 1 publish, whose
 * packet id recorded before sending, or whose removal on PUBACK, would then be sent again (QoS 1 is
 * at least once). A QoS 2 publish or PUBREL is not: its id and its end must survive a power cut,
 * or the client could get it twice as two messages.
 */
function isQos1Publish(packet: { cmd?: string; qos?: number }): boolean {
  return packet.cmd === 'publish' && packet.qos === 1;
}

/** A shared subscription's `$share/{ShareName}/{filter}` [MQTT-4.8.2]. */
function isShared(topic: string): boolean {
  return topic.startsWith('$share/');
}

function withMessageId(packet: StoredPacket, messageId: number | null): StoredPacket {
  if (messageId !== null) packet.messageId = messageId;
  return packet;
}
