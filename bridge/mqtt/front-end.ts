// One job: the MQTT broker devices talk to. aedes is the core; this module gives it the hooks by
// which every publish is stored in the log before it is acknowledged, and wires the other parts of
// bridge/mqtt/ to it (listeners, fast path, session store, access control), keeping the counters.
// Session state (subscriptions, retained messages, wills, queues) lives in its own SQLite file
// beside the log, so persistent sessions survive a restart.
//
// The acknowledgement rule: aedes runs authorizePublish before it writes PUBACK (QoS 1) or PUBREC
// (QoS 2), so authorizePublish returns only once the append is durable. While it waits, aedes
// reads nothing more from that socket: a log that cannot keep up (or a full disk) slows publishers
// down through TCP instead of growing a queue in memory. The ingest fast path (fast-path.ts), which
// takes plain QoS 0/1 publishes before aedes sees them, keeps the same rule with its own bound.
//
// A publish through aedes, as aedes's own handlers do it, is a short list of steps
// (authorizePublish): count it; refuse it on a limit or the ACL (topicRefusal, which the fast path
// asks too); take its turn among the connection's acknowledgements; store it, holding it while a
// failure may pass (storeWithRetry, AppendFailures); settle the outcome in its turn (settle).
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import { finished, type Duplex } from 'node:stream';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client, type ConnectPacket, type PublishPacket, type Subscription } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { ConnectRefusal, ProtocolViolationError, PublishRefusedError, isRefusal } from './errors.js';
import type { Log } from '../../broker/log/log.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { AccessControl } from './access.js';
import { ConnectionAdmission } from './admission.js';
import { MqttListeners, type ListenerPorts } from './listeners.js';
import { wireSize } from './frame-guard.js';
import { TopicMapper } from './mapping.js';
import { AckQueue } from './ack-queue.js';
import { FastPaths, maxPublishLength, type FastPathStats } from './fast-path.js';
import { AppendFailures, HeldAppends, quotaExceeded } from './held-appends.js';
import { LiveSubscriptions } from './live-subscriptions.js';
import { messageEmitter, refuseConnect5, setServerKeepAlive, willOf, wrapPublish, wrapPublishWill, wrapWipeSession } from './aedes-internals.js';
import { connectViolation, enforceStrictParsing, filterViolation } from './protocol-checks.js';
import { PropertyHeaders, type PublishProperties } from './property-headers.js';
import { SERVER_BUSY, pubackReasonCode } from './reason-codes.js';
import { PublishSink, type AppendTarget, type IncomingPublish, type StoreOutcome } from './publish-sink.js';
import { SessionOwners } from './session-owners.js';
import { SqlitePersistence, type SubscriptionChange } from './sqlite-persistence.js';
import type { StoredPacket } from './stored-packet.js';
import { WillsUnderWay } from './wills-under-way.js';
import { SessionExpiry } from './session-expiry.js';
import { SharedSubscriptions, parseShare, type SharedBroker } from './shared-subscriptions.js';

export interface MqttFrontEndOptions {
  config: Config['mqtt'];
  dataDir: string;
  nodeId: string;
  log: Log;
  logger: Logger;
  /** Told of each refusal and client error, for the dashboard's recent errors. */
  onProblem?: (summary: string, detail: string) => void;
  /** Why a CONNECT is refused now with return code 3 (replication: this node is not the leader); null admits. */
  connectGate?: (client: { clean: boolean }) => string | null;
  /**
   * Why this node hands publishes to another instead of storing them (a follower of
   * cluster.followers: forward), or null while it stores them. Meanwhile it takes no subscriptions
   * (SUBACK 0x80), keeps no retained messages and refuses QoS 2 publishes.
   */
  forwarding?: () => string | null;
  /** Where publishes are appended (a follower's forward to the leader); the log by default. */
  appends?: AppendTarget;
  /** Where MQTT clients reach the node that takes them when connectGate refuses (the leader's host:port), or null when none is known. */
  redirect?: () => string | null;
  /** A persistent session's subscriptions changed; replication writes it to the cluster's log. */
  onSubscriptionsChanged?: (change: SubscriptionChange) => void;
  /** A client set (null: cleared) a retained message; replication writes it to the cluster's log. */
  onRetainedChanged?: (topic: string, packet: StoredPacket | null) => void;
}

/** Counters since start; bridge/observability/metrics.ts exports them. */
export interface FrontEndStats {
  publishesReceived: number;
  /** Payload bytes of the publishes received. */
  bytesReceived: number;
  publishesStored: number;
  /** Of the publishes received, those the fast path took (fast-path.ts). */
  publishesFastPath: number;
  duplicatesSkipped: number;
  unmatchedDropped: number;
  refused: Record<string, number>;
  connectionsRefused: Record<string, number>;
  clientErrors: number;
  appendRetries: number;
  /** Messages not delivered to a subscriber because its ACL does not (or no longer) grant the topic. */
  deliveriesWithheld: number;
  /** Messages not queued for an offline session because its queue was full, by bound (messages, bytes). */
  queuedDropped: Record<string, number>;
  /** Persistent sessions removed because they stayed offline longer than mqtt.sessions.expiry. */
  sessionsExpired: number;
}

/** The counters the front end keeps itself; the fast path and AppendFailures keep the rest. */
type OwnCounts = Omit<FrontEndStats, 'publishesFastPath' | 'appendRetries'>;

const NO_FAST_PATH: FastPathStats = { publishes: 0, bytes: 0, stored: 0, quotaExceeded: 0 };

/** The refusals counted by the front end, with those of AppendFailures and the fast path added. */
function withFastPathRefusals(own: Record<string, number>, failures: number, quotaExceeded: number): Record<string, number> {
  const refused = { ...own };
  if (failures > 0) refused['log append failed'] = failures;
  if (quotaExceeded > 0) refused['quota exceeded'] = (refused['quota exceeded'] ?? 0) + quotaExceeded;
  return refused;
}

/**
 * A will as it is published: the Will Delay Interval is a property of the CONNECT's will only, not
 * of a PUBLISH (MQTT 5.0 section 3.3.2.3: a PUBLISH carrying it is malformed; Paho's client drops
 * the connection on it). Its other properties (payload format, message expiry, content type,
 * response topic, correlation data, user properties) go with the message (section 3.1.3.2).
 */
function withoutWillDelay(will: PublishPacket): PublishPacket {
  const properties = (will as { properties?: Record<string, unknown> }).properties;
  if (properties?.willDelayInterval === undefined) return will;
  const { willDelayInterval: _delay, ...rest } = properties;
  return { ...will, properties: rest } as PublishPacket;
}

/** What the log producer id of an MQTT client is: QoS 2 idempotence keys are (producer, packet id). */
const producerOf = (clientId: string): string => `mqtt:${clientId}`;

export class MqttFrontEnd {
  readonly #counts: OwnCounts = {
    publishesReceived: 0,
    bytesReceived: 0,
    publishesStored: 0,
    duplicatesSkipped: 0,
    unmatchedDropped: 0,
    refused: {},
    connectionsRefused: {},
    clientErrors: 0,
    deliveriesWithheld: 0,
    queuedDropped: {},
    sessionsExpired: 0,
  };
  /** The fast paths of the connections (null with mqtt.fastPath off). */
  #fastPaths: FastPaths | null = null;
  /** Acknowledgement queues of connections without a fast path (with mqtt.fastPath off). */
  readonly #acks = new WeakMap<Client, AckQueue>();
  readonly #usernames = new WeakMap<Client, string | null>();
  /** [MQTT-3.1.3-8] a zero-length client id with clean session off gets CONNACK 0x02. */
  readonly #emptyIdWithSession = new WeakSet<Client>();
  /** Clients that sent no client id: the server assigned theirs, so no clientIds form applies. */
  readonly #assignedIds = new WeakSet<Client>();
  /** Null while user names are not verified (no users configured): then nobody owns a session. */
  #owners: SessionOwners | null = null;
  /** Clients aedes registered (their CONNECT was accepted). */
  readonly #registered = new WeakSet<Client>();
  #closing: Promise<void> | null = null;
  #expiry: SessionExpiry | null = null;
  #deliveries = 0;
  /** Wills being published: aedes deletes each from the session store after its publish. */
  readonly #wills = new WillsUnderWay();
  /** An MQTT 5.0 publish's properties as record headers. */
  readonly #propertyHeaders: PropertyHeaders;

  private constructor(
    private readonly options: MqttFrontEndOptions,
    private readonly aedes: Aedes,
    private readonly persistence: SqlitePersistence,
    private readonly sink: PublishSink,
    private readonly access: AccessControl,
    private readonly failures: AppendFailures,
  ) {
    this.#propertyHeaders = new PropertyHeaders(options.config.v5.userProperties);
  }

  /** Set once the listeners are up; the hooks exist before, as a client may connect meanwhile. */
  #listeners: MqttListeners | null = null;

  static async start(options: MqttFrontEndOptions): Promise<MqttFrontEnd> {
    const { config, log, logger } = options;
    // mqtt-packet (aedes's writer) otherwise makes, on its first write, a 2-byte Buffer for each of
    // the 65,536 packet ids: 6 MB of heap a gateway keeps for good (bench:footprint's heap
    // snapshot). Made per write instead; MQTT.js clients do the same with writeCache: false.
    mqttPacket.writeToStream.cacheNumbers = false;
    const access = AccessControl.fromConfig(config.auth);
    const sink = new PublishSink(options.appends ?? log, TopicMapper.compile(config.mapping), config.mapping.newTopicPartitions, logger);
    // aedes needs the hooks at creation and the hooks need the front end: the front end gets
    // aedes right after, before anything can connect.
    let frontEnd: MqttFrontEnd | undefined;
    // A node that forwards stores no QoS 2 keys of its own (it takes no QoS 2): its key table is
    // its leader's copy, changed only by what it fetches, so it releases none.
    const releaseKeys = (producer: string, sequence: number | null = null): Promise<unknown> =>
      (options.forwarding?.() ?? null) !== null ? Promise.resolve() : log.releaseIdempotenceKeys(producer, sequence);
    const persistence = new SqlitePersistence({
      file: join(options.dataDir, 'mqtt.db'),
      logger,
      queue: { maxMessages: config.sessions.maxQueuedMessages, maxBytes: config.sessions.maxQueuedBytes },
      onQueueFull: (_clientId, reason) => frontEnd?.count(frontEnd.#counts.queuedDropped, reason),
      // The QoS 2 handshake is complete: the packet id may carry a new message now.
      onIncomingReleased: (clientId, messageId) =>
        releaseKeys(producerOf(clientId), messageId).then(
          () => undefined,
          (err: unknown) => logger.warn({ err }, 'could not release a QoS 2 key'),
        ),
      onIncomingCleaned: (clientId) => void releaseKeys(producerOf(clientId)).catch((err: unknown) => logger.warn({ err }, 'could not release QoS 2 keys')),
      onWillDeleted: (clientId) => frontEnd?.willDeleted(clientId),
      onRetainedChanged: options.onRetainedChanged,
      onSubscriptionsChanged: options.onSubscriptionsChanged,
      onSharedQueueExpired: (_clientId, queued) => shared.sessionEnded(queued),
    });
    // [MQTT-4.8.2] `$share/{ShareName}/{filter}`: each message to one member of the group (patch 008).
    const shared = new SharedSubscriptions({ store: persistence, mayReceive: (client, topic) => frontEnd?.mayRead(client, topic) ?? false });
    // What a PUBLISH may announce (its properties included), refused unread above (frame-guard.ts).
    const publishLimits = { ...config.limits, maxPropertiesSize: config.v5.maxPropertiesSize };
    const aedes = await Aedes.createBroker({
      id: options.nodeId,
      persistence,
      maxTopicLevels: config.limits.maxTopicLevels,
      // MQTT 5.0 CONNACK properties; 3.1.1 clients are not told, nor held to them by aedes.
      receiveMaximum: config.v5.receiveMaximum,
      topicAliasMaximum: config.v5.topicAliasMaximum,
      maximumPacketSize: wireSize(maxPublishLength(publishLimits)),
      // A v5 client asking for a longer Session Expiry Interval is told mqtt.sessions.expiry, the
      // most an offline session is kept here anyway (session-expiry.ts) [MQTT-3.2.2-3.2].
      sessionExpiryIntervalLimit: config.sessions.expiry === null ? 0 : Math.ceil(config.sessions.expiry / 1000),
      // The listeners time the wait from the TCP accept (pending-connects.ts); this is aedes's own backstop.
      connectTimeout: config.limits.connectTimeout,
      preConnect: (client, packet, done) => frontEnd!.preConnect(client, packet, done),
      authenticate: (client, username, password, done) => frontEnd!.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => frontEnd!.authorizePublish(client, packet, done),
      authorizeSubscribe: (client, sub, done) => frontEnd!.authorizeSubscribe(client, sub, done),
      authorizeForward: (client, packet) => frontEnd!.authorizeForward(client, packet),
      sharedSubscriptions: shared,
      // MQTT 5.0 outbound Topic Aliases for a client whose CONNECT allows them (patch 009).
      outboundTopicAliases: true,
    });
    // An MQTT 5.0 session that expires (not one that ends with its connection: a clean member's are
    // handed on when it leaves) gives what share groups queued on it to another member first.
    wrapWipeSession(aedes, (wipe) => (client) => {
      const queued = client.version === 5 && client.sessionExpiryInterval > 0 ? persistence.sharedQueued(client.id) : [];
      wipe(client); // its subscriptions go at once (cleanSubscriptions), its queue after
      if (queued.length > 0) shared.sessionEnded(queued);
    });
    frontEnd = new MqttFrontEnd(options, aedes, persistence, sink, access, new AppendFailures(logger, options.onProblem));
    if (access.verifiesUsers) frontEnd.#owners = new SessionOwners(persistence);
    frontEnd.countBrokerPublishes();
    const live = LiveSubscriptions.watch(messageEmitter(aedes));
    // After the session store's setup (createBroker), and once `live` mirrors the emitter (a group's
    // listener is a subscriber the fast path must see): the groups of persistent sessions listen again.
    shared.attach(aedes as unknown as SharedBroker);
    if (config.fastPath) frontEnd.#fastPaths = frontEnd.fastPathsWith(live);
    const fastPaths = frontEnd.#fastPaths;
    aedes.on('client', (client) => frontEnd.clientConnected(client));
    aedes.on('clientError', (client, err) => frontEnd.onClientError(client, err));
    aedes.on('connectionError', (client, err) => frontEnd.onClientError(client, err));
    // [MQTT-3.1.2-6] a clean session ends with its connection, and with it any QoS 2 keys.
    aedes.on('clientDisconnect', (client) => {
      if (client.clean) void releaseKeys(producerOf(client.id)).catch(() => undefined);
      frontEnd.sessionEvent(() => persistence.sessionOffline(client.id, client.clean));
    });
    if (config.sessions.expiry !== null) {
      frontEnd.#expiry = new SessionExpiry(persistence, config.sessions.expiry, logger, (expired) => (frontEnd.#counts.sessionsExpired += expired));
      await frontEnd.#expiry.start(); // before the listeners: an expired session is gone before its client can return
    }
    const { limits } = config;
    const admission = new ConnectionAdmission({ maxConnections: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerAddress, perSecond: limits.connectionsPerSecond });
    try {
      frontEnd.#listeners = await MqttListeners.start({
        config,
        packetLimits: { maxRemainingLength: maxPublishLength(publishLimits), maxConnectLength: limits.maxConnectSize, receiveMaximum: config.v5.receiveMaximum },
        admission,
        pending: { max: limits.maxPendingConnects, maxPerAddress: limits.maxPendingConnectsPerAddress, timeoutMs: limits.connectTimeout },
        ...(fastPaths !== null ? { intake: (socket: Duplex) => fastPaths.open(socket) } : {}),
        accept: (stream, _transport, req) => enforceStrictParsing(aedes.handle(stream, req)),
        onRefused: (reason) => frontEnd.refuseConnection(reason),
        logger,
      });
    } catch (err) {
      await frontEnd.close();
      throw err;
    }
    return frontEnd;
  }

  /**
   * The fast path's collaborators: the sink, the limits, this front end's topic checks and ACL
   * (topicRefusal), and who subscribes (connected clients, mirrored in `live`, and persistent sessions).
   */
  private fastPathsWith(live: LiveSubscriptions): FastPaths {
    const { persistence } = this;
    return new FastPaths({
      sink: this.sink,
      limits: { ...this.options.config.limits, maxPropertiesSize: this.options.config.v5.maxPropertiesSize },
      mayPublish: (client, topic) => this.topicRefusal(client, topic) === null,
      subscribers: {
        hasSubscriber: (topic) => live.hasSubscriber(topic) || persistence.hasSubscriber(topic),
        get version() {
          return live.version + persistence.subscriptionsVersion;
        },
      },
      failures: this.failures,
      propertyHeaders: this.#propertyHeaders,
    });
  }

  /** Counters since start; bridge/observability/metrics.ts exports them. Read at scrape time: a new object each read. */
  get stats(): FrontEndStats {
    const own = this.#counts;
    const fast = this.#fastPaths?.stats ?? NO_FAST_PATH;
    const { retries, failures } = this.failures;
    return {
      ...own,
      publishesReceived: own.publishesReceived + fast.publishes,
      bytesReceived: own.bytesReceived + fast.bytes,
      publishesStored: own.publishesStored + fast.stored,
      publishesFastPath: fast.publishes,
      appendRetries: retries,
      refused: failures === 0 && fast.quotaExceeded === 0 ? own.refused : withFastPathRefusals(own.refused, failures, fast.quotaExceeded),
    };
  }

  get ports(): ListenerPorts {
    if (this.#listeners === null) throw new Error('the MQTT listeners are not up');
    return this.#listeners.ports;
  }

  get connectedClients(): number {
    return this.aedes.connectedClients;
  }

  /** Connections accepted whose CONNECT has not arrived yet (pending-connects.ts). */
  get waitingForConnect(): number {
    return this.#listeners?.waitingForConnect ?? 0;
  }

  /** Messages queued for persistent sessions now (those in flight included). */
  get queuedMessages(): number {
    return this.persistence.queuedMessages;
  }

  /** Records a session's connect or disconnect; a store failure is logged there and must not escape an aedes event. */
  private sessionEvent(record: () => void): void {
    try {
      record();
    } catch {
      // SqlitePersistence has logged it; the session's expiry clock is then off by one event.
    }
  }

  private preConnect(client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void): void {
    // [MQTT-3.1.4-1] a CONNECT that breaks the rules closes the connection; a 3.1.1 client gets no
    // CONNACK, a 5.0 one CONNACK 0x82 Protocol Error first (sections 3.1.4 and 4.13.1).
    const violation = connectViolation(packet);
    if (violation !== null) {
      if (packet.protocolVersion === 5) refuseConnect5(client, 0x82);
      this.refuseConnection('malformed CONNECT');
      return done(new ProtocolViolationError(violation), false);
    }
    if (packet.clientId === '') {
      if (!(packet.clean ?? true)) this.#emptyIdWithSession.add(client);
      this.#assignedIds.add(client);
    }
    // [MQTT-3.2.2-21] a v5 client asking for no keep-alive, or a longer one, is told the server's.
    const serverKeepAlive = this.options.config.v5.serverKeepAlive;
    if (packet.protocolVersion === 5 && serverKeepAlive !== null && (!packet.keepalive || packet.keepalive * 1000 > serverKeepAlive)) {
      setServerKeepAlive(client, serverKeepAlive / 1000);
    }
    done(null, true);
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (err: AuthenticateError | null, ok: boolean | null) => void,
  ): void {
    const unavailable = this.options.connectGate?.(client) ?? null;
    if (unavailable !== null) {
      // Replication: only the leader serves MQTT; CONNACK 3 (server unavailable) sends the client to another address.
      // MQTT 5.0 (section 4.11): CONNACK 0x9C (Use another server) with the leader's address as
      // Server Reference when it is known, else 0x88 (Server unavailable).
      this.refuseConnection('not the cluster leader');
      const leader = client.version === 5 ? (this.options.redirect?.() ?? null) : null;
      done(new ConnectRefusal(unavailable, 3, leader === null ? {} : { serverReference: leader }), false);
      return;
    }
    if (this.failures.holding) {
      // The log holds publishes back (a full disk, the disk budget, a storage error): a new
      // client would be held too. MQTT 5.0 section 3.2.2.2: CONNACK 0x89 (Server busy); MQTT
      // 3.1.1 [MQTT-3.2.2.3]: return code 3 (Server unavailable). Clients already connected stay.
      this.refuseConnection('server busy');
      done(new ConnectRefusal('server busy: the log holds publishes back', 3, { reasonCode: SERVER_BUSY }), false);
      return;
    }
    if (this.#emptyIdWithSession.has(client)) {
      this.refuseConnection('empty client id without clean session');
      done(new ConnectRefusal('a zero-length client id needs clean session [MQTT-3.1.3-8]', 2), false);
      return;
    }
    this.access.authenticate(username, password).then(
      (result) => {
        const refusal = result.ok ? this.admitSession(client, username ?? null) : result;
        if (refusal === null) {
          this.#usernames.set(client, username ?? null);
          done(null, true);
          return;
        }
        this.refuseConnection(refusal.reason);
        done(new ConnectRefusal(refusal.reason, refusal.returnCode), false);
      },
      (err: unknown) => done(new ConnectRefusal(err instanceof Error ? err.message : String(err), 3, { cause: err }), false),
    );
  }

  /**
   * What an authenticated client must also pass: its client id's form, its will's topic (published
   * later, possibly after a restart when the client is gone, so checked now as Mosquitto does), and
   * the id's owner. Returns the refusal, or null once the client holds its id.
   */
  private admitSession(client: Client, username: string | null): { reason: string; returnCode: 2 | 3 | 5 } | null {
    const { access } = this;
    const identity = { id: client.id, username };
    if (!this.#assignedIds.has(client) && !access.allowsClientId(identity)) return { reason: 'client id not allowed', returnCode: 2 };
    const will = willOf(client);
    if (will !== null && !access.canPublish(identity, will.topic)) return { reason: 'will not authorized', returnCode: 5 };
    const owners = this.#owners;
    if (owners === null) return null;
    // The session store is shutting: nothing may claim in it now. A connection already gone
    // (dropped while its password was checked) claims nothing either.
    if (this.#closing !== null) return { reason: 'shutting down', returnCode: 3 };
    if (client.closed) return { reason: 'closed during CONNECT', returnCode: 3 };
    let claimed: boolean;
    try {
      claimed = owners.claim(client, client.id, username);
    } catch (err) {
      // A full disk, a damaged mqtt.db: refuse this client (CONNACK 3, server unavailable), not the node.
      this.options.logger.error({ err, clientId: client.id }, 'cannot check who owns a client id; connection refused');
      return { reason: 'session store unavailable', returnCode: 3 };
    }
    if (!claimed) return { reason: 'client id belongs to another user', returnCode: 5 };
    finished(client.conn, () => this.releaseClientId(owners, client));
    return null;
  }

  /** A connection holding a client id ended (session-owners.ts). */
  private releaseClientId(owners: SessionOwners, client: Client): void {
    // Not once closing: the session store shuts, and the session outlives this run anyway.
    if (this.#closing !== null) return;
    try {
      owners.release(client, client.id, client.clean && this.#registered.has(client));
    } catch (err) {
      this.options.logger.error({ err, clientId: client.id }, 'cannot free a client id in the session store');
    }
  }

  /** aedes registered `client`: its CONNECT went through. The session is online, and owned. */
  private clientConnected(client: Client): void {
    this.#registered.add(client);
    this.sessionEvent(() => this.persistence.sessionOnline(client.id, client.clean));
    try {
      this.#owners?.connected(client, client.id, !client.clean);
    } catch (err) {
      this.options.logger.error({ err, clientId: client.id }, 'cannot record who owns a persistent session');
    }
  }

  /**
   * An invalid filter closes the connection (a protocol violation); one outside the ACL gets SUBACK
   * 0x80. A shared subscription's filter is the one after `$share/{ShareName}/`.
   */
  private authorizeSubscribe(client: Client, sub: Subscription, done: (err: Error | null, sub?: Subscription | null) => void): void {
    const filter = parseShare(sub.topic)?.filter ?? sub.topic;
    const noSubscriptions = this.options.forwarding?.() ?? null;
    if (noSubscriptions !== null) {
      // [MQTT-3.9.3-2] 0x80 (Failure) for this filter; MQTT 5.0 clients read it as Unspecified error.
      this.options.logger.info({ clientId: client.id, filter }, `subscription refused: ${noSubscriptions}`);
      this.options.onProblem?.('subscription refused', `client '${client.id}': ${noSubscriptions}`);
      return done(null, null);
    }
    const violation = filterViolation(filter);
    if (violation === null) return done(null, this.access.canSubscribe(this.identity(client), filter) ? sub : null);
    this.options.onProblem?.('subscription refused: invalid topic filter', `client '${client.id}': ${violation}`);
    done(new ProtocolViolationError(violation));
  }

  /** Whether `client`'s ACL lets it read `topic` (a share group passes over a member it does not). */
  private mayRead(client: Client, topic: string): boolean {
    return !this.access.restrictsReading || this.access.canRead(this.identity(client), topic);
  }

  /** A message is delivered (live, queued or retained) only where the receiver's ACL grants its topic. */
  private authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    // Per delivery: without an ACL there is nothing to look up.
    if (!this.access.restrictsReading || this.access.canRead(this.identity(client), packet.topic)) return packet;
    this.#counts.deliveriesWithheld++;
    return null;
  }

  private identity(client: Client): { id: string; username: string | null } {
    return { id: client.id, username: this.#usernames.get(client) ?? null };
  }

  /**
   * Decides whether a publish (or a client's will) is accepted, and stores it in the log first.
   * An error disconnects a 3.1.1 client (it has no negative acknowledgement for a publish); an
   * MQTT 5.0 client is answered with the error's reason code instead (reason-codes.ts).
   */
  private authorizePublish(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const counts = this.#counts;
    counts.publishesReceived++;
    counts.bytesReceived += packet.payload.length;
    const clientId = client?.id ?? (packet as PublishPacket & { clientId?: string }).clientId ?? '';
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const properties = (packet as { properties?: PublishProperties }).properties;
    // A refusal, a v5 one answered in PUBACK, takes its turn too [MQTT-4.6.0-2].
    const inTurn = client === null ? (run: () => void) => run() : this.inOrder(client).take();
    const refusal = this.publishRefusal(client, packet.topic, payload, properties) ?? this.forwardRefusal(packet.qos);
    if (refusal !== null) return inTurn(() => done(this.refusePublish(clientId, packet.topic, refusal)));

    const publish: IncomingPublish = { clientId, topic: packet.topic, payload, qos: packet.qos, retain: packet.retain };
    if (packet.qos === 2 && packet.messageId !== undefined) publish.idempotenceKey = { producer: producerOf(clientId), sequence: packet.messageId };
    if (properties !== undefined) publish.headers = this.#propertyHeaders.of(properties);
    if (properties?.userProperties !== undefined) publish.userProperties = properties.userProperties;
    // A node without subscribers (a follower that forwards) keeps no retained messages: the record
    // says retain (mqtt.retain), the retained store is the leader's and this publish leaves it as is.
    if (packet.retain && (this.options.forwarding?.() ?? null) !== null) packet.retain = false;
    this.storeWithRetry(client, publish, (err, outcome) => inTurn(() => done(this.settle(publish, err, outcome))));
  }

  /**
   * A node that forwards takes no QoS 2 publish: its idempotence key would have to be held on the
   * node that stores it until PUBREL. MQTT 5.0: PUBREC 0x83 (the connection stays); 3.1.1: closed.
   */
  private forwardRefusal(qos: number): string | null {
    return qos === 2 && (this.options.forwarding?.() ?? null) !== null ? 'qos 2 not taken by a forwarding follower' : null;
  }

  /** Why a publish through aedes is refused before it is stored (a limit, its payload's format, its topic), or null. */
  private publishRefusal(client: Client | null, topic: string, payload: Buffer, properties: PublishProperties | undefined): string | null {
    if (payload.length > this.options.config.limits.maxPayload) return 'payload too large';
    // [MQTT-3.3.2.3.2] a payload said to be UTF-8 (Payload Format Indicator 1) that is not: 0x99.
    if (properties?.payloadFormatIndicator === true && !isUtf8(payload)) return 'payload format invalid';
    return this.topicRefusal(client, topic);
  }

  /**
   * Why `client` may not publish on `topic` (its length, the ACL), or null. Both paths ask: the fast
   * path leaves a publish refused here to aedes, which refuses it through authorizePublish.
   */
  private topicRefusal(client: Client | null, topic: string): string | null {
    if (topic.length > this.options.config.limits.maxTopicLength) return 'topic too long';
    if (client !== null && !this.access.canPublish(this.identity(client), topic)) return 'not authorized';
    return null;
  }

  /** [MQTT-4.6.0-2] each client's acknowledgements leave in the order its publishes came in. */
  private inOrder(client: Client): AckQueue {
    const fastPathAcks = this.#fastPaths?.acksOf(client.conn as Duplex);
    if (fastPathAcks !== undefined) return fastPathAcks;
    // Completions only: nothing but the fast path writes PUBACKs through the queue.
    let queue = this.#acks.get(client);
    if (queue === undefined) this.#acks.set(client, (queue = new AckQueue(() => undefined)));
    return queue;
  }

  /**
   * Retries an append that failed for a passing reason (a full disk) for as long as the client
   * stays connected; the socket is not read meanwhile, so nothing piles up. The client's own
   * keep-alive ends the wait if it takes too long, and an unacknowledged message is then the
   * client's to resend. An MQTT 5.0 client's QoS 1/2 publish is not held on a full disk or disk
   * budget: PUBACK / PUBREC 0x97 (quota exceeded) tells it at once.
   */
  private storeWithRetry(client: Client | null, publish: IncomingPublish, done: (err: unknown, outcome?: StoreOutcome) => void): void {
    // Made at the first failure: one publish held on its own, its backoff growing with each failure.
    let held: HeldAppends<IncomingPublish> | null = null;
    // Counted in AppendFailures' held publishes from its first hold until it is settled.
    const settled = (err: unknown, outcome?: StoreOutcome): void => {
      if (held !== null) this.failures.released();
      done(err, outcome);
    };
    const store = (): void =>
      this.sink.store(publish, (err, outcome) => {
        if (err === null || client === null || client.closed || !this.failures.retried(err)) return settled(err, outcome);
        if (client.version === 5 && publish.qos > 0 && quotaExceeded(err)) {
          return settled(null, { kind: 'refused', reason: 'quota exceeded', detail: err.message });
        }
        if (held === null) {
          held = new HeldAppends(store, false);
          this.failures.held();
        }
        this.failures.retrying(client.id, err, held.hold(publish));
      });
    store();
  }

  /** What a store came to: null to acknowledge the publish, or the error to close the connection with. */
  private settle(publish: IncomingPublish, err: unknown, outcome: StoreOutcome | undefined): Error | null {
    if (err !== null || outcome === undefined) return this.failures.failed(publish.clientId, err);
    switch (outcome.kind) {
      case 'stored':
        if (outcome.duplicate) this.#counts.duplicatesSkipped++;
        else this.#counts.publishesStored++;
        return null;
      case 'unmatched':
        if (this.options.config.mapping.unmatched === 'refuse') return this.refusePublish(publish.clientId, publish.topic, 'no mapping rule matches');
        this.#counts.unmatchedDropped++;
        return null;
      case 'refused':
        return this.refusePublish(publish.clientId, publish.topic, outcome.reason, outcome.detail);
    }
  }

  /** A publish refused: counted by reason and reported; the error closes a 3.1.1 connection, and answers a v5 one (reason-codes.ts). */
  private refusePublish(clientId: string, topic: string, reason: string, detail?: string): PublishRefusedError {
    const err = new PublishRefusedError(topic, reason, detail, pubackReasonCode(reason));
    this.count(this.#counts.refused, reason);
    this.options.onProblem?.(`publish refused: ${reason}`, `client '${clientId}': ${err.message}`);
    return err;
  }

  private onClientError(client: Client, err: Error): void {
    this.#counts.clientErrors++;
    // A socket closed under a pending read ends in an AbortError: a device leaving, not a problem.
    // A refusal of ours was reported as such.
    const aborted = (err as NodeJS.ErrnoException).code === 'ABORT_ERR';
    if (!isRefusal(err) && !aborted) this.options.onProblem?.('client error', `client '${client?.id ?? '?'}': ${err.message}`);
    this.options.logger.debug({ clientId: client?.id, err: err.message }, 'client disconnected after an error');
  }

  private count(counters: Record<string, number>, reason: string): void {
    counters[reason] = (counters[reason] ?? 0) + 1;
  }

  private refuseConnection(reason: string): void {
    this.count(this.#counts.connectionsRefused, reason);
    this.options.onProblem?.(`connection refused: ${reason}`, reason);
  }

  /**
   * aedes delivers a publish (and queues it for offline sessions) after it has acknowledged it.
   * Counting the deliveries under way lets close() wait for them before the session store shuts,
   * so a message acknowledged just before a shutdown is still queued for its offline subscribers.
   */
  private countBrokerPublishes(): void {
    wrapPublishWill(this.aedes, (publishWill) => (client, will) => {
      this.#wills.started(client.id);
      publishWill(client, withoutWillDelay(will));
    });
    wrapPublish(this.aedes, (publish) => (packet, client, done) => {
      this.#deliveries++;
      publish(packet, client, (err?: Error) => {
        this.#deliveries--;
        done(err);
      });
    });
  }

  private willDeleted(clientId: string): void {
    this.#wills.settled(clientId);
  }

  private async deliveriesDone(): Promise<void> {
    for (let turns = 0; this.#deliveries > 0 && turns < 10_000; turns++) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Closes every client connection (replication: this node stopped leading); their sessions stay. */
  /** The retained messages as replication reads and applies them (a follower applies its leader's). */
  get retainedStore(): { apply(topic: string, packet: StoredPacket | null): void; list(): Array<[string, StoredPacket]> } {
    const persistence = this.persistence;
    return { apply: (topic, packet) => persistence.applyRetained(topic, packet), list: () => persistence.retainedMessages() };
  }

  /** Persistent sessions' subscriptions as replication reads and applies them (a follower applies its leader's). */
  get subscriptionStore(): {
    apply(change: SubscriptionChange): void;
    list(): ReturnType<SqlitePersistence['allSubscriptions']>;
    owners(): Array<[string, string | null]>;
  } {
    const persistence = this.persistence;
    return { apply: (change) => persistence.applySubscriptions(change), list: () => persistence.allSubscriptions(), owners: () => persistence.sessionOwners() };
  }

  closeClients(): void {
    for (const client of Object.values((this.aedes as unknown as { clients: Record<string, Client> }).clients)) client.close();
  }

  /** Stops listening, disconnects clients, waits for their appends and deliveries, closes the session store. Idempotent. */
  close(): Promise<void> {
    this.failures.stop();
    this.#closing ??= (async () => {
      await this.#listeners?.close();
      await this.#expiry?.close();
      await this.deliveriesDone();
      await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
      await this.sink.drain();
      await this.#wills.settledAll(); // wills of the clients just disconnected: stored, delivered, deleted
      await this.deliveriesDone();
      await this.persistence.destroy();
    })();
    return this.#closing;
  }
}
