// The one place that reads or writes what aedes does not publish in its types (types/*.d.ts).
// Checked against aedes 2.0.0-beta.1 as patched on install (patches/, docs/mqtt5.md; with
// mqtt-packet 9.0.2 and mqemitter 7.1.0); an upgrade is to be checked here, and test/bridge/mqtt/aedes-internals.test.ts tries each of these on a real aedes.
//
// What is used, and why:
// - `conn.client` (lib/client.js sets it on the stream): the fast path (fast-path.ts) sees the
//   socket's bytes before aedes, and needs the client aedes made for that socket.
// - `client._keepaliveInterval`, `client._keepaliveTimer` (handlers/connect.js): aedes refreshes
//   the keep-alive timer on each packet it handles (handlers/index.js); the fast path refreshes it
//   for the packets it takes, which aedes never sees.
// - `client._parser` and its `_parseString`, `_parseMessageId`, `_parseUnsubscribe`, `_parseProperties`, `_emitError`,
//   `_list`, `_pos`, `packet`, `error` (mqtt-packet's parser.js): wrapped here (checkParsing) to
//   refuse what MQTT 3.1.1 forbids and mqtt-packet lets through (protocol-checks.ts enforceStrictParsing).
// - `client._will` (handlers/connect.js, set before authenticate runs): the will's topic is
//   checked against the ACL at CONNECT (front-end.ts admitSession).
// - `client._authorized` (false until authenticate accepts): a connection refused at CONNECT must
//   not clean the QoS 2 state of the client id it asked for (sqlite-persistence.ts cleanIncoming).
// - `aedes.mq` (aedes.js; typed as `any` in the options only): its emitter's subscribe and
//   unsubscribe calls are mirrored to know which topics have a live subscriber (live-subscriptions.ts).
// - `aedes.publish(packet, client, done)`: typed with two arguments, called by aedes with three
//   (the publishing client); wrapped to count deliveries under way (front-end.ts countBrokerPublishes).
// - `aedes.publishWill(client, will)` (aedes.js, new in 2.x): a will's publish and then its delete
//   from the session store (delWill); wrapped to count wills under way, so that the store shuts
//   after their delete (front-end.ts countBrokerPublishes).
// - `client._serverKeepAlive` (handlers/connect.js, 2.x): the MQTT 5.0 Server Keep Alive; set in
//   preConnect, aedes times the connection by it and announces it in CONNACK (front-end.ts).
// - `client._topicAliases` (lib/client.js, 2.x: alias -> topic, per connection) and
//   `client.broker.topicAliasMaximum` (aedes.js): the fast path resolves and sets MQTT 5.0 inbound
//   topic aliases of the publishes it takes as aedes's publish handler does (resolveTopicAlias),
//   in the same map, so that an alias set on one path names the topic on the other.
// - `client.broker` (lib/client.js): the frame guard reports a refusal it answers with a v5
//   DISCONNECT as aedes reports a connection's error, with the broker's 'clientError' event.
// - `client._nextId` (lib/qos-packet.js): the next packet id aedes gives a QoS 1/2 delivery; a
//   shared subscription's delivery to a clean member takes its id from it (nextPacketId), the same
//   way, to know which PUBACK answers it (shared-subscriptions.ts).
// - `client.deliverQoS(packet, done)` (lib/client.js): a delivery that keeps the packet id it is
//   given (client.publish wraps it in a Packet, which drops the id); for the same member.
// - the parser's 'packet' event (mqtt-packet's parser.js, an EventEmitter): a second listener
//   beside aedes's sees the member's PUBACKs (shared-subscriptions.ts).
// - `aedes._wipeSession(client)` (aedes.js, 2.x): removes an MQTT 5.0 session's subscriptions and
//   queue when its Session Expiry Interval ends (or at once when it is 0); wrapped so that a share
//   group's messages queued on an expiring session go to another member first (shared-subscriptions.ts).
// - `client._paused`, `client._parsingBatch`, `client._rejectingPacketTooLarge` (lib/client.js,
//   nextBatch): aedes reads its socket only when it is not paused and has handled every packet of
//   its last read; the frame guard hands a read to the fast path before the stream buffers it only
//   then (awaitsBytes), so that the fast path never takes a publish ahead of a packet aedes holds.
// `client.version`, `connected`, `closed` are typed (public) and are read directly.
import type { Duplex } from 'node:stream';
import type { Aedes, Client, PublishPacket } from 'aedes';
import type { MessageEmitter } from './live-subscriptions.js';

/** The aedes version this module was checked against. */
export const AEDES_CHECKED_VERSION = '2.0.0-beta.1';

/** The parts of mqtt-packet's Parser that checkParsing wraps (parser.js). */
interface ParserInternals {
  _list: { slice(start: number, end: number): Buffer };
  _pos: number;
  packet: { cmd?: string; protocolVersion?: number; messageId?: number; unsubscriptions?: string[] };
  error: Error | null;
  _parseString(): string | null;
  _parseMessageId(): boolean;
  _parseUnsubscribe(): unknown;
  _parseProperties(): Record<string, unknown> | false;
  _emitError(err: Error): void;
  on(event: 'packet', listener: (packet: { cmd: string; messageId?: number }) => void): unknown;
}

/** aedes's private Client fields used here. */
interface ClientInternals {
  _keepaliveInterval: number;
  _keepaliveTimer: NodeJS.Timeout | null;
  _parser: ParserInternals;
  _will: { topic: string } | null | undefined;
  _authorized: boolean | undefined;
  _topicAliases: Map<number, string>;
  broker: Aedes & { topicAliasMaximum: number };
  _nextId: number;
  _paused: boolean;
  _parsingBatch: number;
  _rejectingPacketTooLarge?: boolean;
}

/** aedes.publish as aedes itself calls it: with the publishing client (null for the broker's own). */
export type BrokerPublish = (packet: PublishPacket, client: Client | null, done: (err?: Error) => void) => void;

/** aedes.publishWill: publishes a client's will, then deletes it from the session store (delWill). */
export type PublishWill = (client: Client, will: PublishPacket) => void;

/** The client aedes made for `conn` (aedes.handle), or null before that. */
export function clientOf(conn: Duplex): Client | null {
  return (conn as Duplex & { client?: Client }).client ?? null;
}

/** Reports `err` as aedes reports a client's error: the broker's 'clientError' event. */
export function reportClientError(client: Client, err: Error): void {
  (client as Client & { broker: Aedes }).broker.emit('clientError', client, err);
}

/** Refreshes the client's keep-alive timer, as aedes does on each packet it handles (handlers/index.js). */
export function keepAliveRefresh(client: Client): void {
  const internals = client as Client & ClientInternals;
  if (internals._keepaliveInterval > 0) internals._keepaliveTimer?.refresh();
}

/**
 * Whether aedes waits for the next 'readable' of its socket: not paused, every packet of its last
 * read handled (nextBatch brought `_parsingBatch` to 0), no oversized frame being refused.
 */
export function awaitsBytes(client: Client): boolean {
  const internals = client as Client & ClientInternals;
  return !internals._paused && internals._parsingBatch === 0 && internals._rejectingPacketTooLarge !== true;
}

/** The mqtt-packet parser reading the client's stream. */
export function parserOf(client: Client): ParserInternals {
  return (client as Client & ClientInternals)._parser;
}

/** Checks run as the client's parser reads a packet; each returns why the packet breaks the rules, or null. */
export interface ParseChecks {
  /** A string was read: `text` as decoded, `raw` its bytes as sent. */
  string(text: string, raw: Buffer): string | null;
  /** A packet identifier was read. */
  messageId(messageId: number | undefined): string | null;
  /** An UNSUBSCRIBE's filters were read (mqtt-packet found nothing wrong). */
  unsubscribe(filters: string[] | undefined): string | null;
  /** MQTT 5.0: a packet's properties were read (mqtt-packet found nothing wrong); `raw` from their Property Length on. */
  properties(raw: Buffer): string | null;
}

/** A packet broke a rule of MQTT 5.0 that is a Protocol Error (DISCONNECT 0x82) rather than a Malformed Packet (0x81). */
export class ProtocolErrorInPacket extends Error {
  readonly reasonCode = 0x82;
}

/**
 * Wraps the client's parser so that `checks` see each string, packet identifier and UNSUBSCRIBE it
 * reads; a breach is the parser's error: the packet is never emitted, and aedes closes the connection.
 */
export function checkParsing(client: Client, checks: ParseChecks): Client {
  const parser = parserOf(client);
  const parseString = parser._parseString;
  parser._parseString = function checkedString(this: ParserInternals): string | null {
    const start = this._pos + 2; // after the string's two length bytes
    const text = parseString.call(this);
    if (text === null) return null;
    const violation = checks.string(text, this._list.slice(start, this._pos));
    if (violation !== null) this._emitError(new Error(violation));
    return text;
  };
  const parseMessageId = parser._parseMessageId;
  parser._parseMessageId = function checkedMessageId(this: ParserInternals): boolean {
    const parsed = parseMessageId.call(this);
    const violation = parsed ? checks.messageId(this.packet.messageId) : null;
    if (violation !== null) this._emitError(new Error(violation));
    return parsed;
  };
  const parseUnsubscribe = parser._parseUnsubscribe;
  parser._parseUnsubscribe = function checkedUnsubscribe(this: ParserInternals): unknown {
    const result = parseUnsubscribe.call(this);
    const violation = this.error === null ? checks.unsubscribe(this.packet.unsubscriptions) : null;
    if (violation !== null) this._emitError(new Error(violation));
    return result;
  };
  const parseProperties = parser._parseProperties;
  parser._parseProperties = function checkedProperties(this: ParserInternals): Record<string, unknown> | false {
    const start = this._pos;
    const result = parseProperties.call(this);
    const violation = result === false ? null : checks.properties(this._list.slice(start, this._pos));
    if (violation !== null) this._emitError(new ProtocolErrorInPacket(violation));
    return result;
  };
  // [MQTT-4.13.1-1] an MQTT 5.0 client is told why with a DISCONNECT (0x81 Malformed Packet, or the
  // error's own reason code) before aedes closes the connection on the parser's error. Written
  // straight to the socket: aedes destroys it in the same turn, and the write coalescer flushes
  // before a destroy (write-coalescer.ts).
  // A v5 CONNECT that does not parse (its protocol version read) is answered with CONNACK 0x81, or
  // the error's reason code (0x82 a property twice), before the close: section 3.1.4 and 4.13 (MAY).
  const emitError = parser._emitError;
  parser._emitError = function answeredError(this: ParserInternals, err: Error): void {
    const reasonCode = (err as { reasonCode?: number }).reasonCode ?? 0x81;
    if (client.version === 5 && client.connected && !client.closed && !client.conn.destroyed) {
      client.conn.write(Buffer.from([0xe0, 0x01, reasonCode]));
    } else if (!client.connected && isV5Connect(this.packet) && !client.closed && !client.conn.destroyed) {
      refuseConnect5(client, reasonCode);
    }
    emitError.call(this, err);
  };
  return client;
}

function isV5Connect(packet: { cmd?: string; protocolVersion?: number }): boolean {
  return packet.cmd === 'connect' && packet.protocolVersion === 5;
}

/**
 * Answers a refused MQTT 5.0 CONNECT with a CONNACK of `reasonCode` (0x81 Malformed Packet, 0x82
 * Protocol Error), written straight to the socket as the connection is about to close (the write
 * coalescer flushes before a destroy). CONNACK: 0x20, Remaining Length 3, flags 0, the reason code,
 * Property Length 0.
 */
export function refuseConnect5(client: Client, reasonCode: number): void {
  client.conn.write(Buffer.from([0x20, 0x03, 0x00, reasonCode, 0x00]));
}

/** Gives an MQTT 5.0 client `seconds` as its keep-alive, announced in CONNACK (Server Keep Alive); before aedes's init. */
export function setServerKeepAlive(client: Client, seconds: number): void {
  (client as Client & { _serverKeepAlive?: number })._serverKeepAlive = seconds;
}

/** The will of the CONNECT being handled (set before the authenticate hook runs), or null. */
export function willOf(client: Client): { topic: string } | null {
  return (client as Client & ClientInternals)._will ?? null;
}

/** False for a connection whose CONNECT aedes has not (or never) accepted; true where the field is absent. */
export function isAuthorized(client: { id: string }): boolean {
  return (client as { _authorized?: boolean })._authorized !== false;
}

/** aedes's message emitter (mqemitter), through which it subscribes its connected clients. */
export function messageEmitter(aedes: Aedes): MessageEmitter {
  return (aedes as unknown as { mq: MessageEmitter }).mq;
}

/**
 * Replaces aedes.publishWill(client, will) (aedes.js, 2.x) with `wrap(original)`. aedes publishes a
 * will through it (authorizePublish, publish), then deletes the will from the session store.
 */
export function wrapPublishWill(aedes: Aedes, wrap: (publishWill: PublishWill) => PublishWill): void {
  const internals = aedes as unknown as { publishWill: PublishWill };
  internals.publishWill = wrap(internals.publishWill.bind(aedes));
}

/** Replaces aedes._wipeSession(client) (aedes.js, 2.x) with `wrap(original)`. */
export function wrapWipeSession(aedes: Aedes, wrap: (wipe: (client: Client) => void) => (client: Client) => void): void {
  const internals = aedes as unknown as { _wipeSession: (client: Client) => void };
  internals._wipeSession = wrap(internals._wipeSession.bind(aedes));
}

/** Replaces aedes.publish with `wrap(original)`; aedes calls it with (packet, client, done) or (packet, done). */
export function wrapPublish(aedes: Aedes, wrap: (publish: BrokerPublish) => BrokerPublish): void {
  const wrapped = wrap(aedes.publish.bind(aedes) as unknown as BrokerPublish);
  (aedes as { publish: unknown }).publish = (packet: PublishPacket, client: Client | null | ((err?: Error) => void), done?: (err?: Error) => void) => {
    if (typeof client === 'function') wrapped(packet, null, client);
    else wrapped(packet, client, done ?? (() => undefined));
  };
}

/** MQTT 5.0: a connection's inbound topic aliases (alias -> topic), as aedes's publish handler keeps them. */
export function topicAliases(client: Client): Map<number, string> {
  return (client as Client & ClientInternals)._topicAliases;
}

/** MQTT 5.0: the highest inbound topic alias the broker allows (its topicAliasMaximum option). */
export function topicAliasMaximum(client: Client): number {
  return (client as Client & ClientInternals).broker.topicAliasMaximum;
}

/** Takes the packet id aedes would give the client's next QoS 1/2 delivery, as lib/qos-packet.js does (1 to 65535, then 1 again). */
export function nextPacketId(client: Client): number {
  const internals = client as Client & ClientInternals;
  const id = internals._nextId;
  internals._nextId = id >= 65535 ? 1 : id + 1;
  return id;
}

/** Calls `listener` with each packet the client's parser reads, beside aedes's own handling. */
export function onClientPacket(client: Client, listener: (packet: { cmd: string; messageId?: number }) => void): void {
  parserOf(client).on('packet', listener);
}

/** Delivers `packet` (QoS 1/2, with the packet id `nextPacketId` gave) to a clean session's client, as aedes delivers to a subscriber. */
export function deliverWithPacketId(client: Client, packet: object, done: () => void): void {
  (client as Client & { deliverQoS(packet: object, done: () => void): void }).deliverQoS(packet, done);
}
