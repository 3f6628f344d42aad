// aedes's session store on SQLite (`mqtt.db` beside the log): subscriptions of persistent
// sessions, retained messages, wills, messages queued for offline clients and inbound QoS 2
// packets awaiting PUBREL. What a client was told is stored must survive a restart and a power
// cut, so every change is one fsynced statement or transaction (synchronous = FULL).
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
import { SessionStoreError } from '../../broker/errors.js';
import { TopicFilter } from './topic-filter.js';
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
`;

export interface SqlitePersistenceOptions {
  file: string;
  logger?: Logger;
  /** A QoS 2 handshake completed (PUBREL): the packet id may carry a new message. */
  onIncomingReleased?: (clientId: string, messageId: number) => void;
  /** A client's inbound QoS 2 state was dropped (a clean session began). */
  onIncomingCleaned?: (clientId: string) => void;
}

export class SqlitePersistence {
  readonly #db: Database.Database;
  readonly #retained = new Map<string, StoredPacket>();
  readonly #subscriptions = new Map<string, Map<string, SubscriptionOptions>>();
  readonly #trie = new QlobberSub({ wildcard_one: '+', wildcard_some: '#', separator: '/' });
  readonly #sql;
  #broker: { id: string } | undefined;
  #destroyed = false;
  #subscriptionsVersion = 0;

  constructor(private readonly options: SqlitePersistenceOptions) {
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
        `SELECT seq, broker_id AS brokerId, broker_counter AS brokerCounter FROM outgoing WHERE client_id = @client AND ((broker_id = @broker AND broker_counter = @counter)
           OR (broker_id IS NOT @broker AND message_id = @messageId)) ORDER BY seq LIMIT 1`,
      ),
      setOutgoingId: db.prepare('UPDATE outgoing SET message_id = ? WHERE seq = ?'),
      replaceOutgoing: db.prepare('UPDATE outgoing SET broker_id = ?, broker_counter = ?, message_id = ?, packet = ?, payload = ? WHERE seq = ?'),
      outgoingById: db.prepare('SELECT seq, message_id, packet, payload FROM outgoing WHERE client_id = ? AND message_id = ? ORDER BY seq LIMIT 1'),
      delOutgoing: db.prepare('DELETE FROM outgoing WHERE seq = ?'),
      outgoingOf: db.prepare('SELECT message_id, packet, payload FROM outgoing WHERE client_id = ? ORDER BY seq'),
      putIncoming: db.prepare('INSERT OR REPLACE INTO incoming (client_id, message_id, packet, payload) VALUES (?, ?, ?, ?)'),
      getIncoming: db.prepare('SELECT message_id, packet, payload FROM incoming WHERE client_id = ? AND message_id = ?'),
      delIncoming: db.prepare('DELETE FROM incoming WHERE client_id = ? AND message_id = ?'),
      cleanIncoming: db.prepare('DELETE FROM incoming WHERE client_id = ?'),
      putWill: db.prepare('INSERT OR REPLACE INTO wills (client_id, broker_id, packet, payload) VALUES (?, ?, ?, ?)'),
      getWill: db.prepare('SELECT packet, payload FROM wills WHERE client_id = ?'),
      delWill: db.prepare('DELETE FROM wills WHERE client_id = ?'),
      allWills: db.prepare('SELECT broker_id, packet, payload FROM wills'),
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

  /** Loads subscriptions and retained messages into memory. */
  async setup(broker: { id: string }): Promise<void> {
    this.#broker = broker;
    for (const row of this.#db.prepare('SELECT topic, packet, payload FROM retained').all() as Array<{ topic: string; packet: string; payload: Buffer | null }>) {
      this.#retained.set(row.topic, fromRow(row.packet, row.payload));
    }
    for (const row of this.#db.prepare('SELECT client_id, topic, options FROM subscriptions').all() as Array<{ client_id: string; topic: string; options: string }>) {
      this.remember(row.client_id, row.topic, JSON.parse(row.options) as SubscriptionOptions);
    }
  }

  async storeRetained(packet: StoredPacket): Promise<void> {
    // [MQTT-3.3.1-10] an empty retained payload deletes the retained message.
    if (packet.payload.length === 0) {
      this.write(() => this.#sql.delRetained.run(packet.topic));
      this.#retained.delete(packet.topic);
      return;
    }
    const copy = { ...packet };
    this.write(() => this.#sql.putRetained.run(packet.topic, ...toRow(copy)));
    this.#retained.set(packet.topic, copy);
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
    this.write(() =>
      this.#db.transaction(() => {
        for (const { topic, ...options } of subs) this.#sql.putSub.run(client.id, topic, JSON.stringify(options));
      })(),
    );
    for (const { topic, ...options } of subs) this.remember(client.id, topic, options);
  }

  async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
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
      if (sub.qos > 0) this.#trie.remove(topic, { clientId: client.id, topic });
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
    const stored = this.#subscriptions.get(client.id);
    if (stored === undefined) return;
    this.#subscriptionsVersion++;
    this.write(() => this.#sql.delSubs.run(client.id));
    for (const [topic, sub] of stored) if (sub.qos > 0) this.#trie.remove(topic, { clientId: client.id, topic });
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
    this.write(() =>
      this.#db.transaction(() => {
        for (const sub of subs) this.#sql.enqueue.run(sub.clientId, queued.brokerId ?? null, queued.brokerCounter ?? null, null, json, payload);
      })(),
    );
  }

  /** Records the packet id aedes gave a queued delivery (or replaces a packet holding that id). */
  async outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    const match = this.#sql.findOutgoing.get({ client: client.id, broker: packet.brokerId ?? null, counter: packet.brokerCounter ?? null, messageId: packet.messageId ?? null }) as
      | { seq: number; brokerId: string | null; brokerCounter: number | null }
      | undefined;
    if (match === undefined) throw new Error('no such packet');
    if (match.brokerId === (packet.brokerId ?? null) && match.brokerCounter === (packet.brokerCounter ?? null)) {
      this.write(() => this.#sql.setOutgoingId.run(packet.messageId ?? null, match.seq));
    } else {
      this.write(() => this.#sql.replaceOutgoing.run(packet.brokerId ?? null, packet.brokerCounter ?? null, packet.messageId ?? null, ...toRow(packet), match.seq));
    }
  }

  async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket | undefined> {
    const row = this.#sql.outgoingById.get(client.id, packet.messageId) as { seq: number; message_id: number; packet: string; payload: Buffer | null } | undefined;
    if (row === undefined) return undefined;
    this.write(() => this.#sql.delOutgoing.run(row.seq));
    return withMessageId(fromRow(row.packet, row.payload), row.message_id);
  }

  outgoingStream(client: ClientRef): Readable {
    const rows = this.#sql.outgoingOf.all(client.id) as Array<{ message_id: number | null; packet: string; payload: Buffer | null }>;
    return Readable.from(rows.map((row) => withMessageId(fromRow(row.packet, row.payload), row.message_id)));
  }

  async incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    const stored = new Packet(packet);
    stored.messageId = packet.messageId;
    this.write(() => this.#sql.putIncoming.run(client.id, packet.messageId, ...toRow(stored)));
  }

  async incomingGetPacket(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket> {
    const row = this.#sql.getIncoming.get(client.id, packet.messageId) as { message_id: number; packet: string; payload: Buffer | null } | undefined;
    if (row === undefined) throw new Error('no such packet');
    return fromRow(row.packet, row.payload);
  }

  async incomingDelPacket(client: ClientRef, packet: { messageId?: number }): Promise<void> {
    const { changes } = this.write(() => this.#sql.delIncoming.run(client.id, packet.messageId));
    if (changes === 0) throw new Error('no such packet');
    this.options.onIncomingReleased?.(client.id, packet.messageId!);
  }

  async cleanIncoming(client: ClientRef): Promise<void> {
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
    const will = await this.getWill(client);
    if (will !== undefined) this.write(() => this.#sql.delWill.run(client.id));
    return will;
  }

  /** The wills of clients whose broker is not alive (here: wills left by a previous run). */
  streamWill(brokers: Record<string, unknown> = {}): Readable {
    const rows = this.#sql.allWills.all() as Array<{ broker_id: string; packet: string; payload: Buffer | null }>;
    return Readable.from(rows.filter((row) => !brokers[row.broker_id]).map((row) => fromRow(row.packet, row.payload)));
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
    this.write(() => this.#db.prepare('INSERT OR REPLACE INTO session_owners (client_id, username) VALUES (?, ?)').run(clientId, username));
  }

  releaseSession(clientId: string): void {
    this.write(() => this.#db.prepare('DELETE FROM session_owners WHERE client_id = ?').run(clientId));
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
    if (options.qos > 0) {
      this.#trie.add(topic, { clientId, topic, qos: options.qos, rh: options.rh, rap: options.rap, nl: options.nl } as TrieEntry);
    } else if (previous !== undefined && previous.qos > 0) {
      this.#trie.remove(topic, { clientId, topic });
    }
    stored.set(topic, options);
  }

  /** Runs a write; a failure becomes a SessionStoreError naming the file. */
  private write<T>(run: () => T): T {
    try {
      return run();
    } catch (err) {
      this.options.logger?.error({ err }, 'MQTT session store write failed');
      throw new SessionStoreError(`cannot write ${this.options.file}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function withMessageId(packet: StoredPacket, messageId: number | null): StoredPacket {
  if (messageId !== null) packet.messageId = messageId;
  return packet;
}
