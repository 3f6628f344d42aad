// One job: take, off one connection's bytes, the plain QoS 0/1 PUBLISHes that only go to the log,
// append them, and acknowledge each once durable; everything else goes to aedes unchanged.
//
// Why: most of what a gateway receives is QoS 0 and 1 telemetry on topics nobody subscribes to.
// For those, aedes's work per publish (parsing into packet objects, the hook chain, its message
// emitter, writing each PUBACK in pieces) is most of the cost, more than storing the message
// (bench:ingest). So each connection's bytes pass through here before aedes parses them: whole
// PUBLISH packets that only go to the log are taken off the stream, appended in the batch of this
// event-loop turn, and acknowledged from here once durable. Everything else (CONNECT, SUBSCRIBE,
// QoS 2, retained messages, topics with a subscriber, anything refused or odd) goes to aedes
// unchanged, and so does every packet after it in the same read, so that the turns taken in the
// connection's AckQueue follow arrival order [MQTT-4.6.0-2]. Of an MQTT 5.0 connection it takes the
// PUBLISHes with the properties a well-behaved client sends (publish-properties.ts): the message
// properties become record headers as through aedes (property-headers.ts), and a Topic Alias is
// set and resolved in aedes's own map of the connection, so either path may use an alias the other
// set [MQTT-3.3.2-10..12]. A publish without properties (Property Length 0) costs no more than a
// 3.1.1 one: nothing else is read. The PUBACK is the same 4 bytes, as a v5 PUBACK with reason code
// 0x00 may omit it [MQTT-3.4.2.1].
//
// A publish taken here is acknowledged on the same terms as through aedes: only once its append is
// durable; a log that cannot keep up (or a full disk) stops the reading of the socket, and a failed
// append is held or ends the connection as AppendFailures decides (held-appends.ts).
//
// FastPaths is what all connections share (one per front end): limits, routes, counters. It is
// given a few narrow collaborators (FastPathOptions) and answers the front end two things: the
// intake of a new connection, and a connection's AckQueue. FastPath is one connection's.
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { Client } from 'aedes';
import type { RecordHeader, RecordInput } from '../../broker/log/record-batch.js';
import { AckQueue, type AckTurn } from './ack-queue.js';
import { clientOf, keepAliveRefresh, topicAliases, topicAliasMaximum } from './aedes-internals.js';
import { HeldAppends, quotaExceeded, type AppendFailures } from './held-appends.js';
import { PubackReasonCode } from './reason-codes.js';
import { announcedLength, bodyStart, packetLength, type StreamIntake } from './frame-guard.js';
import type { PropertyHeaders, PublishProperties } from './property-headers.js';
import { readPublishProperties } from './publish-properties.js';
import type { PendingRecord, PublishSink, StoreRoute } from './publish-sink.js';

/** Who subscribes to a topic now (connected or persistent sessions). */
export interface Subscribers {
  hasSubscriber(topic: string): boolean;
  /** Changes whenever hasSubscriber() may answer otherwise. */
  readonly version: number;
}

/** What the fast path is given: where publishes go, its limits, and two questions it may ask. */
export interface FastPathOptions {
  /** Where taken publishes go; its topicsVersion changes when plainRoute() may answer otherwise. */
  readonly sink: PublishSink;
  readonly limits: { readonly maxPayload: number; readonly maxTopicLength: number; readonly maxTopicLevels: number; readonly maxPropertiesSize?: number };
  /** Whether `client` may publish on `topic` (the front end's topic checks and ACL); if not, aedes refuses it. */
  mayPublish(client: Client, topic: string): boolean;
  /** A publish with a subscriber is aedes's to deliver. */
  readonly subscribers: Subscribers;
  /** Decides on, and reports, a failed append; shared with the aedes path. */
  readonly failures: AppendFailures;
  /** MQTT 5.0 message properties as record headers; without it, a v5 PUBLISH with properties is aedes's. */
  readonly propertyHeaders?: PropertyHeaders;
}

/** Counters since start; the front end adds them into FrontEndStats. */
export interface FastPathStats {
  /** Publishes taken. */
  publishes: number;
  /** Payload bytes of the publishes taken. */
  bytes: number;
  /** Publishes taken and stored. */
  stored: number;
  /** MQTT 5.0 QoS 1 publishes taken and answered 0x97 (quota exceeded): the disk was full or at its budget. */
  quotaExceeded: number;
}

/** aedes refuses deeper topics whatever maxTopicLevels says (its topic matcher has that limit). */
const AEDES_MAX_TOPIC_LEVELS = 100;

/**
 * The longest PUBLISH a connection may announce once connected: 2-byte topic length + topic (up to
 * 4 bytes a character) + packet id + payload, and for MQTT 5.0 its properties with their length (a
 * Variable Byte Integer, up to 4 bytes). Anything announcing more is refused unread.
 */
export function maxPublishLength(limits: { readonly maxTopicLength: number; readonly maxPayload: number; readonly maxPropertiesSize?: number }): number {
  const properties = limits.maxPropertiesSize === undefined ? 0 : 4 + limits.maxPropertiesSize;
  return 2 + limits.maxTopicLength * 4 + 2 + properties + limits.maxPayload;
}

/** The fast paths of all connections: what they share, and each connection's by its socket. */
export class FastPaths {
  readonly stats: FastPathStats = { publishes: 0, bytes: 0, stored: 0, quotaExceeded: 0 };
  readonly maxRemainingLength: number;
  readonly maxPayload: number;
  readonly sink: PublishSink;
  readonly subscribers: Subscribers;
  readonly failures: AppendFailures;
  readonly propertyHeaders: PropertyHeaders | undefined;
  readonly #maxTopicLevels: number;
  readonly #connections = new WeakMap<Duplex, FastPath>();

  constructor(private readonly options: FastPathOptions) {
    const { limits } = options;
    this.maxRemainingLength = maxPublishLength(limits);
    this.maxPayload = limits.maxPayload;
    this.#maxTopicLevels = Math.min(limits.maxTopicLevels, AEDES_MAX_TOPIC_LEVELS);
    this.sink = options.sink;
    this.subscribers = options.subscribers;
    this.failures = options.failures;
    this.propertyHeaders = options.propertyHeaders;
  }

  /** The intake of a new connection's bytes (listeners.ts, frame-guard.ts). */
  open(socket: Duplex): FastPath {
    const path = new FastPath(socket, this);
    this.#connections.set(socket, path);
    return path;
  }

  /** The acknowledgement queue of a connection the fast path reads; the aedes path takes its turns there too. */
  acksOf(socket: Duplex): AckQueue | undefined {
    return this.#connections.get(socket)?.acks;
  }

  /**
   * The route of plain appends by `client` on `topic`, or null to leave such publishes to aedes:
   * what aedes refuses or treats apart ($ topics, wildcards, too many levels), what the front end
   * refuses (mayPublish), a topic with a subscriber, a topic the mapping does not route plainly.
   * An answer stands while `subscribers.version` and `sink.topicsVersion` do (each connection caches
   * its last one).
   */
  route(client: Client, topic: string): StoreRoute | null {
    if (topic.charCodeAt(0) === 0x24 /* $ */ || topic.includes('+') || topic.includes('#')) return null;
    if (topic.split('/').length > this.#maxTopicLevels) return null;
    if (!this.options.mayPublish(client, topic) || this.subscribers.hasSubscriber(topic)) return null;
    return this.sink.plainRoute(topic, client.id);
  }
}

/** Payload bytes in flight on one connection above which its socket is not read. */
const HOLD_BYTES = 64 * 1024;

const PUBLISH = 3;
const PUBACK_QUOTA_EXCEEDED = PubackReasonCode.quotaExceeded;
const QOS_MASK = 0x06;
const RETAIN = 0x01;
const DUP = 0x08;

/** The last route looked up, by the topic's bytes (or, for a topic named by its alias, its string). */
interface CachedRoute<Topic> {
  topic: Topic;
  version: number;
  route: StoreRoute | null;
}

/** A publish taken by the fast path, waiting for its append: its own record (one object per message, not two). */
class FastPublish implements PendingRecord, RecordInput {
  /** Counted in AppendFailures' held publishes until settled (FastPath.#settled). */
  held = false;

  constructor(
    readonly timestamp: number,
    readonly key: Buffer | null,
    readonly value: Buffer,
    readonly headers: readonly RecordHeader[],
    readonly route: StoreRoute,
    readonly turn: AckTurn | null,
    readonly bytes: number,
    private readonly path: FastPath,
  ) {}

  get record(): RecordInput {
    return this;
  }

  stored(): void {
    this.path.stored(this);
  }

  failed(err: unknown): void {
    this.path.failed(this, err);
  }
}

/** One connection's fast path: its intake of bytes, its route cache, its held appends, its PUBACKs. */
export class FastPath implements StreamIntake {
  /** The connection's acknowledgements, shared with the publishes aedes handles. */
  readonly acks: AckQueue;
  #started = false;
  /** MQTT 5.0: a PUBLISH has a Property Length after its packet id; only those with none are taken. */
  #v5 = false;
  /** A packet split across reads: its parts so far, until the rest arrives. */
  #partial: Buffer[] = [];
  #partialBytes = 0;
  /** The split packet's whole length, once its fixed header has arrived (else -1). */
  #partialLength = -1;
  /** The route cache: one topic, as a connection mostly publishes on one topic after another. */
  #cache: CachedRoute<Buffer> | null = null;
  /** MQTT 5.0: the route cache of publishes that name their topic by a Topic Alias. */
  #aliasCache: CachedRoute<string> | null = null;
  #inFlightBytes = 0;
  /** PUBACKs wait in the socket's buffer (the client does not read): stop reading until it drains. */
  #blocked = false;
  /** A read was refused: aedes is to be told when reading may go on. */
  #refused = false;
  /** Publishes whose append failed for a passing reason, retried together; made at the first such failure. */
  #held: HeldAppends<FastPublish> | null = null;

  constructor(
    private readonly socket: Duplex,
    private readonly shared: FastPaths,
  ) {
    this.acks = new AckQueue((pubacks) => this.#writePubacks(pubacks));
  }

  refuseRead(): boolean {
    if (!this.#full()) return false;
    this.#refused = true;
    return true;
  }

  #full(): boolean {
    return this.#inFlightBytes >= HOLD_BYTES || this.#blocked;
  }

  /** From the first read after aedes has accepted the connection on; never again off (a packet may be split). */
  active(): boolean {
    if (this.#started) return true;
    const client = this.#client();
    // MQTT 3.1, 3.1.1 and 5.0 (of a 5.0 connection, PUBLISHes with the properties publish-properties.ts reads).
    this.#started = client !== null && client.connected && !client.closed && (client.version === 3 || client.version === 4 || client.version === 5);
    this.#v5 = this.#started && client!.version === 5;
    return this.#started;
  }

  take(chunk: Buffer): Buffer | null {
    const data = this.#joinPartial(chunk);
    if (data === null) return null;
    const client = this.#client()!;
    const now = Date.now();
    let at = 0;
    let aedesFrom = -1;
    while (at < data.length) {
      const length = packetLength(data, at, this.shared.maxRemainingLength);
      if (length < 0) break;
      if (aedesFrom < 0 && !this.#takePublish(client, data, at, length, now)) aedesFrom = at;
      at += length;
    }
    if (at < data.length) this.#keepPartial(data, at);
    // aedes refreshes its keep-alive timer on every packet it handles; these it does not see.
    keepAliveRefresh(client);
    return aedesFrom < 0 ? null : data.subarray(aedesFrom, at);
  }

  /** `chunk` after the first part of a split packet, or null while that packet is still incomplete. */
  #joinPartial(chunk: Buffer): Buffer | null {
    if (this.#partial.length === 0) return chunk;
    this.#partial.push(chunk);
    this.#partialBytes += chunk.length;
    // A large packet arrives in many reads: they are joined once, when it is whole.
    if (this.#partialLength >= 0 && this.#partialBytes < this.#partialLength) return null;
    const data = Buffer.concat(this.#partial, this.#partialBytes);
    this.#partial = [];
    this.#partialBytes = 0;
    this.#partialLength = -1;
    return data;
  }

  #keepPartial(data: Buffer, at: number): void {
    // A copy: the rest of the read need not stay in memory for a few bytes.
    const rest = Buffer.from(data.subarray(at));
    this.#partial = [rest];
    this.#partialBytes = rest.length;
    // -1 while even the fixed header is cut.
    this.#partialLength = announcedLength(rest, 0, this.shared.maxRemainingLength);
  }

  /** Takes the whole packet at `at` if it is a publish that only goes to the log. */
  #takePublish(client: Client, data: Buffer, at: number, length: number, now: number): boolean {
    const flags = data[at]!;
    if (flags >> 4 !== PUBLISH || client.closed) return false;
    const qos = (flags & QOS_MASK) >> 1;
    if (qos > 1 || flags & RETAIN || (qos === 0 && flags & DUP)) return false;
    const end = at + length;
    const topicStart = bodyStart(data, at) + 2;
    if (topicStart > end) return false;
    const topicEnd = topicStart + ((data[topicStart - 2]! << 8) | data[topicStart - 1]!);
    let payloadStart = topicEnd + qos * 2;
    let properties: PublishProperties | undefined;
    let topicAlias = 0;
    if (this.#v5) {
      if (payloadStart >= end) return false;
      // [MQTT-3.3.2.3] a Property Length of 0 (one byte): no properties, nothing more to read.
      if (data[payloadStart] === 0) payloadStart++;
      else {
        const read = this.shared.propertyHeaders === undefined ? null : readPublishProperties(data, payloadStart, end);
        if (read === null) return false;
        ({ end: payloadStart, properties, topicAlias } = read);
      }
    }
    if (payloadStart > end) return false;
    const messageId = qos === 1 ? (data[topicEnd]! << 8) | data[topicEnd + 1]! : 0;
    if (qos === 1 && messageId === 0) return false; // [MQTT-2.3.1-1]
    if (end - payloadStart > this.shared.maxPayload) return false; // aedes refuses it
    const value = data.subarray(payloadStart, end);
    // [MQTT-3.3.2.3.2] a payload said to be UTF-8 that is not: aedes answers 0x99.
    if (properties?.payloadFormatIndicator === true && !isUtf8(value)) return false;
    const route = topicAlias === 0 ? this.#route(client, data, topicStart, topicEnd) : this.#aliasedRoute(client, topicAlias, data, topicStart, topicEnd);
    if (route === null) return false;

    const headers = properties === undefined ? route.headers[qos as 0 | 1] : [...route.headers[qos as 0 | 1], ...this.shared.propertyHeaders!.of(properties)];
    const publish = new FastPublish(now, route.key, value, headers, route, qos === 1 ? this.acks.puback(messageId) : null, length, this);
    this.#inFlightBytes += length;
    const { stats } = this.shared;
    stats.publishes++;
    stats.bytes += value.length;
    this.shared.sink.appendRouted(route, publish);
    return true;
  }

  #route(client: Client, data: Buffer, start: number, end: number): StoreRoute | null {
    const cached = this.#cache;
    // Per message: what may change a route (FastPaths.route).
    const version = this.shared.subscribers.version + this.shared.sink.topicsVersion;
    if (cached !== null && cached.version === version && cached.topic.length === end - start && data.compare(cached.topic, 0, cached.topic.length, start, end) === 0) {
      return cached.route;
    }
    const bytes = data.subarray(start, end);
    // [MQTT-1.5.3-1/2] a topic is valid UTF-8 without U+0000: anything else is aedes's to refuse.
    const route = bytes.length > 0 && isUtf8(bytes) && !bytes.includes(0) ? this.shared.route(client, bytes.toString('utf8')) : null;
    this.#cache = { topic: Buffer.from(bytes), version, route };
    return route;
  }

  /**
   * MQTT 5.0, as aedes's publish handler does (resolveTopicAlias) [MQTT-3.3.2-10..12]: a topic with
   * an alias sets the alias, an empty topic is the one its alias names. An alias out of range or
   * never set is aedes's to refuse (DISCONNECT 0x94); so is a topic the fast path does not take,
   * and aedes sets its alias then.
   */
  #aliasedRoute(client: Client, alias: number, data: Buffer, start: number, end: number): StoreRoute | null {
    if (alias > topicAliasMaximum(client)) return null;
    const aliases = topicAliases(client);
    if (start < end) {
      const route = this.#route(client, data, start, end);
      if (route !== null) aliases.set(alias, data.toString('utf8', start, end));
      return route;
    }
    const topic = aliases.get(alias);
    if (topic === undefined) return null;
    const cached = this.#aliasCache;
    const version = this.shared.subscribers.version + this.shared.sink.topicsVersion;
    if (cached !== null && cached.version === version && cached.topic === topic) return cached.route;
    // Set by either path from a topic it had checked (UTF-8, no U+0000, no wildcard).
    const route = this.shared.route(client, topic);
    this.#aliasCache = { topic, version, route };
    return route;
  }

  /** The append of `publish` is durable. */
  stored(publish: FastPublish): void {
    this.#held?.succeeded();
    this.#settled(publish);
    this.shared.stats.stored++;
    publish.turn?.done();
  }

  /** The append of `publish` failed: retried while the failure may pass, else the connection ends. */
  failed(publish: FastPublish, err: unknown): void {
    const client = this.#client();
    if (client === null || client.closed || this.socket.destroyed) return this.#settled(publish);
    const { failures } = this.shared;
    if (this.#v5 && publish.turn !== null && quotaExceeded(err) && failures.retried(err)) {
      // [MQTT-3.4.2.1] a v5 client is told 0x97 (quota exceeded) rather than held, as through aedes.
      this.#settled(publish);
      this.shared.stats.quotaExceeded++;
      return publish.turn.refuse(PUBACK_QUOTA_EXCEEDED);
    }
    if (failures.retried(err)) {
      // Unreferenced: a held publisher must not keep a stopping process alive.
      this.#held ??= new HeldAppends((held) => this.#retry(held), true);
      if (!publish.held) {
        publish.held = true;
        failures.held();
      }
      const delay = this.#held.hold(publish);
      if (delay >= 0) failures.retrying(client.id, err, delay);
      return;
    }
    this.#settled(publish);
    this.socket.destroy(failures.failed(client.id, err));
  }

  #retry(held: FastPublish[]): void {
    for (const publish of held) {
      if (this.socket.destroyed) this.#settled(publish);
      else this.shared.sink.appendRouted(publish.route, publish);
    }
  }

  /** Every end of a publish comes here once: stored, refused, failed for good, or dropped with its connection. */
  #settled(publish: FastPublish): void {
    if (publish.held) {
      publish.held = false;
      this.shared.failures.released();
    }
    this.#inFlightBytes -= publish.bytes;
    this.#resumeIfHeld();
  }

  #writePubacks(pubacks: Buffer): void {
    if (this.socket.destroyed) return;
    if (this.socket.write(pubacks) || this.#blocked) return;
    this.#blocked = true;
    this.socket.once('drain', () => {
      this.#blocked = false;
      this.#resumeIfHeld();
    });
  }

  /** A read was refused; once below the limits, aedes is told to read again. */
  #resumeIfHeld(): void {
    if (!this.#refused || this.#full()) return;
    this.#refused = false;
    queueMicrotask(() => {
      if (!this.socket.destroyed) this.socket.emit('readable');
    });
  }

  #client(): Client | null {
    return clientOf(this.socket);
  }
}
