// One job: MQTT 5.0 Shared Subscriptions, `$share/{ShareName}/{filter}` (section 4.8.2), for 5.0
// and 3.1.1 clients alike (as Mosquitto does). aedes 2 has none; patch 008 hands a `$share/...`
// subscription to this module (check, add, remove) instead of subscribing the client itself.
//
// Each share group (one `$share/...` string) is one listener on aedes's message emitter, for its
// filter; each message it hears goes to exactly one member:
// - a connected member, in turn (round-robin), with the subscription's QoS (at most the message's);
//   a member's own session queues it first when it is persistent, as aedes does for its clients;
// - when no member is connected, the persistent sessions holding the subscription (read from the
//   session store) take turns: the message (QoS 1/2) is queued on one of them, and delivered when
//   it returns; a QoS 0 message is dropped, as for any offline session;
// - when there is neither, the message is dropped, and the group's listener removed.
// A clean member that leaves with QoS 1 messages unacknowledged: they go to another member
// (section 4.8.2: SHOULD); QoS 2 ones do not [MQTT-4.8.2-5]. A persistent member keeps them in its
// session, sent again when it returns [MQTT-4.8.2-4].
import { randomUUID } from 'node:crypto';
import type { Client } from 'aedes';
import { deliverWithPacketId, nextPacketId, onClientPacket } from './aedes-internals.js';

/** What the group needs of the session store (sqlite-persistence.ts). */
export interface SharedSessionStore {
  /** The persistent sessions holding the subscription `topic` (a `$share/...` string), with its options. */
  sharedSubscribers(topic: string): Array<{ clientId: string; qos: number; rap?: boolean; subscriptionIdentifier?: number }>;
  /** Every `$share/...` subscription held by a persistent session. */
  sharedTopics(): string[];
  /** Queues a message for a session (aedes's persistence interface). */
  outgoingEnqueue(sub: { id: string; clientId: string }, packet: DeliveredPacket): Promise<void>;
}

/** The part of aedes a group subscribes through. */
export interface SharedBroker {
  subscribe(topic: string, deliver: Deliver, done: () => void): void;
  unsubscribe(topic: string, deliver: Deliver, done: () => void): void;
}

/** A message as aedes's emitter hands it to a subscriber. */
export interface DeliveredPacket {
  cmd: 'publish';
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  dup?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  properties?: Record<string, unknown>;
  messageExpiry?: number;
  [field: string]: unknown;
}

type Deliver = (packet: DeliveredPacket, done: () => void) => void;

/** A member's subscription options, as aedes hands them to add(). */
export interface MemberOptions {
  topic: string;
  qos: number;
  rap?: boolean;
  subscriptionIdentifier?: number;
}

export interface SharedSubscriptionsOptions {
  store: SharedSessionStore;
  /** Whether `client` may receive a message on `topic` (its ACL); a member refused is passed over. */
  mayReceive?: (client: Client, topic: string) => boolean;
}

/** MQTT 5.0 reason code 0x8F, Topic Filter invalid. */
const TOPIC_FILTER_INVALID = 0x8f;
const PREFIX = '$share/';

/** `$share/{ShareName}/{filter}` split, or null when malformed [MQTT-4.8.2-1] [MQTT-4.8.2-2]. */
export function parseShare(topic: string): { shareName: string; filter: string } | null {
  if (!topic.startsWith(PREFIX)) return null;
  const slash = topic.indexOf('/', PREFIX.length);
  if (slash === -1) return null;
  const shareName = topic.slice(PREFIX.length, slash);
  const filter = topic.slice(slash + 1);
  // The ShareName is at least one character and contains no '/', '+' or '#'; a filter follows.
  if (shareName.length === 0 || /[+#]/.test(shareName) || filter.length === 0) return null;
  return { shareName, filter };
}

interface Member extends MemberOptions {
  client: Client;
  /** Clean members only: QoS 1 deliveries not yet acknowledged, by packet id (given to another member if it leaves). */
  unacked: Map<number, DeliveredPacket> | null;
}

class ShareGroup {
  /** Connected members by client id, in the order they joined. */
  readonly #members = new Map<string, Member>();
  /** The same, as an array for taking turns; rebuilt when a member joins or leaves. */
  #order: Member[] = [];
  #turn = 0;
  #offlineTurn = 0;

  constructor(
    readonly topic: string,
    readonly filter: string,
    readonly deliver: Deliver,
  ) {}

  get size(): number {
    return this.#members.size;
  }

  member(clientId: string): Member | undefined {
    return this.#members.get(clientId);
  }

  join(member: Member): void {
    this.#members.set(member.client.id, member);
    this.#order = [...this.#members.values()];
  }

  leave(clientId: string): void {
    this.#members.delete(clientId);
    this.#order = [...this.#members.values()];
  }

  /** The next connected member whose turn it is and who may receive `topic`, or null. */
  nextMember(topic: string, mayReceive: (client: Client, topic: string) => boolean): Member | null {
    const members = this.#order;
    for (let i = 0; i < members.length; i++) {
      const member = members[(this.#turn + i) % members.length]!;
      if (member.client.closed || !mayReceive(member.client, topic)) continue;
      this.#turn = (this.#turn + i + 1) % members.length;
      return member;
    }
    return null;
  }

  /** The next of `subscribers` (offline persistent sessions) whose turn it is. */
  nextOffline<T>(subscribers: T[]): T {
    return subscribers[this.#offlineTurn++ % subscribers.length]!;
  }
}

export class SharedSubscriptions {
  readonly #groups = new Map<string, ShareGroup>();
  readonly #mayReceive: (client: Client, topic: string) => boolean;
  #broker: SharedBroker | null = null;
  /** Clients whose PUBACKs are watched (clean members with QoS 1 deliveries). */
  readonly #watched = new WeakSet<Client>();
  /** Each clean member's groups, to find an acknowledged delivery. */
  readonly #memberships = new WeakMap<Client, Set<ShareGroup>>();
  #redeliveries = 0;
  readonly #redeliveryId = `$share-redelivery/${randomUUID()}`;

  constructor(private readonly options: SharedSubscriptionsOptions) {
    this.#mayReceive = options.mayReceive ?? (() => true);
  }

  /** Starts delivering through `broker`, with a group for each `$share/...` of a persistent session. */
  attach(broker: SharedBroker): void {
    this.#broker = broker;
    for (const topic of this.options.store.sharedTopics()) this.group(topic);
  }

  /** aedes asks before taking a `$share/...` subscription: null, or the SUBACK reason code that refuses it. */
  check(_client: Client, sub: { topic: string }): number | null {
    return parseShare(sub.topic) === null ? TOPIC_FILTER_INVALID : null;
  }

  /** `client` joins the group `sub.topic` (or changes its options there). */
  add(client: Client, sub: MemberOptions, done: (err?: Error | null) => void): void {
    const group = this.group(sub.topic);
    if (group === null) return done(new Error(`'${sub.topic}' is not a shared subscription`));
    const previous = group.member(client.id);
    const unacked = previous?.client === client ? previous.unacked : client.clean ? new Map<number, DeliveredPacket>() : null;
    group.join({ ...sub, client, unacked });
    if (unacked !== null) this.watchAcks(client, group);
    done();
  }

  /** `client` leaves the group `topic`: an UNSUBSCRIBE, or its connection closed (`disconnecting`). */
  remove(client: Client, topic: string, disconnecting: boolean, done: (err?: Error | null) => void): void {
    const group = this.#groups.get(topic);
    const member = group?.member(client.id);
    // A connection taken over by a newer one with the same id is no longer the member.
    if (group === undefined || member === undefined || member.client !== client) return done();
    group.leave(client.id);
    this.#memberships.get(client)?.delete(group);
    // Its session ends with the connection: what it did not acknowledge goes to another member
    // (QoS 1; section 4.8.2). A persistent session keeps its own, resent when it returns.
    if (disconnecting && member.unacked !== null) {
      for (const packet of member.unacked.values()) this.dispatch(group, this.redelivery(packet), () => undefined);
    }
    this.dropIfIdle(group, done);
  }

  /**
   * A persistent session ended (its expiry) with `queued` messages, read before its queue went.
   * Those a share group queued on it (QoS 1, carrying the group's broker id, asDelivered) go to
   * another member (section 4.8.2: "If the Client's Session terminates before the Client
   * reconnects, the Server SHOULD send the Application Message to another Client that is
   * subscribed to the same Shared Subscription"); QoS 2 ones do not [MQTT-4.8.2-5]. The session's
   * subscriptions are gone by now, so it is not chosen again.
   */
  sessionEnded(queued: ReadonlyArray<{ brokerId?: string | null; qos?: number }>): void {
    for (const packet of queued) {
      const shareTopic = shareTopicOf(packet.brokerId);
      if (shareTopic === null || packet.qos !== 1) continue;
      const group = this.group(shareTopic);
      if (group === null) continue;
      // The expired member's Subscription Identifier is not the next one's (asDelivered sets that).
      const { subscriptionIdentifier: _theirs, ...properties } = (packet as DeliveredPacket).properties ?? {};
      this.dispatch(group, this.redelivery({ ...(packet as DeliveredPacket), properties }), () => undefined);
    }
  }

  /**
   * A message given to another member. aedes skips a delivery whose (broker id, counter) is not
   * above the last one the client got from that broker id (lib/client.js dedupe); a redelivery
   * carries a broker id of its own and a counter of its own, rising, so it is not taken for one.
   * The id is this run's: a session store finds a queued delivery by (broker id, counter), so a
   * counter that starts again at 1 after a restart must not meet one queued in an earlier run.
   */
  private redelivery(packet: DeliveredPacket): DeliveredPacket {
    return { ...packet, messageId: undefined, dup: false, brokerId: this.#redeliveryId, brokerCounter: ++this.#redeliveries };
  }

  /** The group for `topic`, its listener subscribed on first use; null for a malformed `$share/...`. */
  private group(topic: string): ShareGroup | null {
    const existing = this.#groups.get(topic);
    if (existing !== undefined) return existing;
    const share = parseShare(topic);
    if (share === null || this.#broker === null) return null;
    const group: ShareGroup = new ShareGroup(topic, share.filter, (packet, done) => this.dispatch(group, packet, done));
    this.#groups.set(topic, group);
    this.#broker.subscribe(share.filter, group.deliver, () => undefined);
    return group;
  }

  /** A group with no connected member and no persistent session holding it stops listening. */
  private dropIfIdle(group: ShareGroup, done: () => void): void {
    if (group.size > 0 || this.#groups.get(group.topic) !== group || this.options.store.sharedSubscribers(group.topic).length > 0) return done();
    this.#groups.delete(group.topic);
    this.#broker!.unsubscribe(group.filter, group.deliver, done);
  }

  /** One message of the group's filter, to one member. */
  private dispatch(group: ShareGroup, packet: DeliveredPacket, done: () => void): void {
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match topics starting with '$'.
    if (packet.topic.startsWith('$') && /^[+#]/.test(group.filter)) return done();
    const member = group.nextMember(packet.topic, this.#mayReceive);
    if (member !== null) return this.deliverTo(member, packet, done);
    this.queueOffline(group, packet, done);
  }

  private deliverTo(member: Member, packet: DeliveredPacket, done: () => void): void {
    const copy = asDelivered(packet, member, member.topic);
    if (member.unacked !== null && copy.qos === 1) {
      // A clean member: its packet id chosen here, to know which PUBACK answers it.
      copy.messageId = nextPacketId(member.client);
      member.unacked.set(copy.messageId, packet);
      return deliverWithPacketId(member.client, copy, done);
    }
    // aedes's own delivery: the member's session queues it first when persistent (lib/client.js publish).
    member.client.publish(copy as Parameters<Client['publish']>[0], () => done());
  }

  /** No member connected: queued (QoS 1/2) on a persistent member's session, in turn; else dropped. */
  private queueOffline(group: ShareGroup, packet: DeliveredPacket, done: () => void): void {
    const subscribers = this.options.store.sharedSubscribers(group.topic);
    if (subscribers.length === 0) return this.dropIfIdle(group, done);
    // As for any offline session, QoS 0 is not queued: a QoS 1/2 message waits with a member subscribed at QoS 1/2.
    const queueing = packet.qos === 0 ? [] : subscribers.filter((subscriber) => subscriber.qos > 0);
    if (queueing.length === 0) return done();
    const subscriber = group.nextOffline(queueing);
    this.options.store.outgoingEnqueue({ id: subscriber.clientId, clientId: subscriber.clientId }, asDelivered(packet, subscriber, group.topic)).then(
      () => done(),
      () => done(),
    );
  }

  /** Follows a clean member's PUBACKs, to forget what it acknowledged. */
  private watchAcks(client: Client, group: ShareGroup): void {
    let groups = this.#memberships.get(client);
    if (groups === undefined) this.#memberships.set(client, (groups = new Set()));
    groups.add(group);
    if (this.#watched.has(client)) return;
    this.#watched.add(client);
    onClientPacket(client, (packet) => {
      if (packet.cmd !== 'puback' || packet.messageId === undefined) return;
      for (const g of this.#memberships.get(client) ?? []) g.member(client.id)?.unacked?.delete(packet.messageId);
    });
  }
}

const SHARE_MARK = '|$share/';

/** The share group (`$share/...`) whose copy carries `brokerId` (asDelivered), or null. */
function shareTopicOf(brokerId: string | null | undefined): string | null {
  const at = brokerId?.indexOf(SHARE_MARK) ?? -1;
  return at === -1 ? null : brokerId!.slice(at + 1);
}

/**
 * The message as `member` of the share group `shareTopic` gets it: its subscription's QoS at most,
 * retain cleared unless Retain As Published, its Subscription Identifier.
 *
 * Its broker id is the group's own (`{brokerId}|{shareTopic}`): aedes skips a delivery whose broker
 * id and counter a client has already had (lib/client.js dedupe), so a client that is a member and
 * also subscribed on its own (or a member of two groups) got the message once, whichever came
 * first. Section 4.8.2: a shared subscription's delivery is apart from the client's other
 * subscriptions; the client gets one copy from each. The session store keys a queued message by
 * broker id and counter too, so the copies stay two rows.
 */
function asDelivered(packet: DeliveredPacket, member: Omit<MemberOptions, 'topic'>, shareTopic: string): DeliveredPacket {
  const copy: DeliveredPacket = { ...packet, qos: Math.min(packet.qos, member.qos) as 0 | 1 | 2, messageId: undefined };
  if (packet.brokerId !== undefined) copy.brokerId = `${packet.brokerId}|${shareTopic}`; // SHARE_MARK before the topic
  if (member.rap !== true) copy.retain = false;
  if (member.subscriptionIdentifier !== undefined) copy.properties = { ...packet.properties, subscriptionIdentifier: member.subscriptionIdentifier };
  return copy;
}
