// Where an MQTT publish goes into the log: the mapping picks the log topic and key, the key picks
// the partition (Kafka's partitioner), and publishes for the same partition share one record batch.
// aedes hands every packet of a socket read to its handlers at once: a big read (a fast publisher)
// becomes a batch of its own as soon as it is handled, so the writer commits it while the main
// thread parses the next socket; a small one (a device sending now and then) waits for the end of
// the event-loop turn and shares its batch with what the other sockets brought.
import type { Logger } from 'pino';
import { UnknownTopicError } from '../../broker/errors.js';
import type { AppendInfo, IdempotenceKey, Log } from '../../broker/log/log.js';
import type { RecordHeader, RecordInput } from '../../broker/log/record-batch.js';
import { KeylessSpreader, partitionForKey } from '../../broker/murmur2.js';
import { releasingTogether } from './ack-queue.js';
import type { Route, TopicMapper } from './mapping.js';
import type { UserProperties } from '../shared/mapping-rules.js';

export interface IncomingPublish {
  clientId: string;
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** Set for QoS 2: stored at most once while held (released at PUBREL). */
  idempotenceKey?: IdempotenceKey;
  /** Stored after the mqtt.* headers: an MQTT 5.0 publish's properties (property-headers.ts). */
  headers?: readonly RecordHeader[];
  /** An MQTT 5.0 publish's User Properties, for mapping rules that name them (`{user.deviceId}`). */
  userProperties?: UserProperties;
}

/** Where the sink appends: the log, or on a follower that forwards, the leader (bridge/cluster/follower-forward.ts). */
export type AppendTarget = Pick<Log, 'append' | 'partitionCount' | 'createTopic'>;

export type StoreOutcome =
  | { kind: 'stored'; topic: string; partition: number; offset: number; duplicate: boolean }
  | { kind: 'unmatched' }
  | { kind: 'refused'; reason: string; detail: string };

/** A record waiting for its batch, and who to tell how its append went. */
export interface PendingRecord {
  readonly record: RecordInput;
  stored(offset: number, duplicate: boolean): void;
  failed(err: unknown): void;
}

/**
 * Where every publish on one MQTT topic by one client goes when it is a plain append (the fast
 * path keeps one per connection): the log topic, the partition (-1: no key, spread per record),
 * the key, and the stored headers by QoS (0 and 1; not retained).
 */
export interface StoreRoute {
  topic: string;
  partitions: number;
  partition: number;
  key: Buffer | null;
  headers: readonly [readonly RecordHeader[], readonly RecordHeader[]];
}

type Routed = Exclude<Route, { refused: string; detail: string }>;
const UNMATCHED: StoreOutcome = { kind: 'unmatched' };
/**
 * Runs a check at the end of this synchronous run: a settled promise's reaction costs less than
 * queueMicrotask, which makes an async resource per call (at one publish per socket read, one per
 * message).
 */
const SETTLED = Promise.resolve();

/** A run of this many publishes is worth its own batch without waiting for more. */
const EARLY_FLUSH_RECORDS = 32;

const QOS_BYTES = [Buffer.from('0'), Buffer.from('1'), Buffer.from('2')] as const;
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

/** The headers every stored publish carries. */
function mqttHeaders(topic: Buffer, qos: 0 | 1 | 2, retain: boolean, clientId: Buffer): RecordHeader[] {
  return [
    ['mqtt.topic', topic],
    ['mqtt.qos', QOS_BYTES[qos]],
    ['mqtt.retain', retain ? TRUE : FALSE],
    ['mqtt.client_id', clientId],
  ];
}

export class PublishSink {
  /** Records waiting for the flush at the end of this synchronous run, per log topic and partition. */
  #pending = new Map<string, Map<number, PendingRecord[]>>();
  #pendingCount = 0;
  #checkScheduled = false;
  #flushAtTurnEnd = false;
  #creating = new Map<string, Promise<void>>();
  #topicsCreated = 0;
  readonly #spreader = new KeylessSpreader();
  #lastClientId = '';
  #lastClientIdBytes = Buffer.alloc(0);
  readonly #flushOrWait = (): void => this.flushOrWait();

  constructor(
    private readonly log: AppendTarget,
    private readonly mapper: TopicMapper,
    private readonly newTopicPartitions: number,
    private readonly logger: Logger,
  ) {}

  /** Stores a publish; `done` is called once, when it is durable or known not to be stored. */
  store(publish: IncomingPublish, done: (err: unknown, outcome?: StoreOutcome) => void): void {
    let route: Route | null;
    let partitions: number | null;
    try {
      route = this.mapper.route(publish.topic, publish.clientId, publish.userProperties);
      if (route === null) return done(null, UNMATCHED);
      if ('refused' in route) return done(null, { kind: 'refused', reason: route.refused, detail: route.detail });
      partitions = this.partitionCount(route.topic);
    } catch (err) {
      return done(err);
    }
    const to = route;
    if (partitions === null) {
      this.createTopic(to.topic).then((count) => this.storeIn(to, count, publish, done), done);
    } else {
      this.storeIn(to, partitions, publish, done);
    }
  }

  private storeIn(route: Routed, partitions: number, publish: IncomingPublish, done: (err: unknown, outcome?: StoreOutcome) => void): void {
    const partition = route.key === null ? this.#spreader.next(route.topic, partitions) : partitionForKey(route.key, partitions);
    const headers = mqttHeaders(Buffer.from(publish.topic), publish.qos, publish.retain, this.clientIdBytes(publish.clientId));
    if (publish.headers !== undefined) headers.push(...publish.headers);
    const record: RecordInput = { timestamp: Date.now(), key: route.key, value: publish.payload, headers };
    const stored = (offset: number, duplicate: boolean): void => done(null, { kind: 'stored', topic: route.topic, partition, offset, duplicate });
    if (publish.idempotenceKey === undefined) {
      this.enqueue(route.topic, partition, { record, stored, failed: done });
    } else {
      // A keyed (QoS 2) append is its own batch: the key covers exactly that one record.
      this.log.append(route.topic, partition, [record], { idempotenceKey: publish.idempotenceKey }).then((info) => stored(info.baseOffset, info.duplicate), done);
    }
  }

  /**
   * The route of plain appends (QoS 0 or 1, not retained) on `mqttTopic` by `clientId`, for the
   * fast path to reuse; null when a publish there is not a plain append to an existing topic
   * (unmatched, refused by the mapping, or a topic still to be created): store() handles those.
   */
  plainRoute(mqttTopic: string, clientId: string): StoreRoute | null {
    const route = this.mapper.route(mqttTopic, clientId);
    if (route === null || 'refused' in route) return null;
    const partitions = this.partitionCount(route.topic);
    if (partitions === null) return null;
    const topic = Buffer.from(mqttTopic);
    const client = Buffer.from(clientId);
    return {
      topic: route.topic,
      partitions,
      partition: route.key === null ? -1 : partitionForKey(route.key, partitions),
      key: route.key,
      headers: [mqttHeaders(topic, 0, false, client), mqttHeaders(topic, 1, false, client)],
    };
  }

  /** Changes whenever plainRoute() may answer otherwise (a topic was created). */
  get topicsVersion(): number {
    return this.#topicsCreated;
  }

  /** Appends a record on a route from plainRoute(), in the batch of this event-loop turn. */
  appendRouted(route: StoreRoute, pending: PendingRecord): void {
    const partition = route.partition >= 0 ? route.partition : this.#spreader.next(route.topic, route.partitions);
    this.enqueue(route.topic, partition, pending);
  }

  /** The client id's bytes, shared by all of that client's records (most clients publish a lot). */
  private clientIdBytes(clientId: string): Buffer {
    if (this.#lastClientId !== clientId) {
      this.#lastClientId = clientId;
      this.#lastClientIdBytes = Buffer.from(clientId);
    }
    return this.#lastClientIdBytes;
  }

  /** Waits until what was handed over has been appended (for shutdown). */
  async drain(): Promise<void> {
    while (this.#checkScheduled || this.#flushAtTurnEnd) await new Promise((resolve) => setImmediate(resolve));
  }

  private partitionCount(topic: string): number | null {
    try {
      return this.log.partitionCount(topic);
    } catch (err) {
      if (err instanceof UnknownTopicError) return null;
      throw err;
    }
  }

  /** A topic named by a mapping rule but not configured is created on first use. */
  private async createTopic(topic: string): Promise<number> {
    let creating = this.#creating.get(topic);
    if (creating === undefined) {
      creating = this.log.createTopic(topic, this.newTopicPartitions).then(() => {
        this.#topicsCreated++;
        this.logger.info({ topic, partitions: this.newTopicPartitions }, 'created log topic named by a mapping rule');
      });
      this.#creating.set(topic, creating);
      creating.catch(() => this.#creating.delete(topic));
    }
    await creating;
    return this.log.partitionCount(topic);
  }

  private enqueue(topic: string, partition: number, pending: PendingRecord): void {
    let byPartition = this.#pending.get(topic);
    if (byPartition === undefined) this.#pending.set(topic, (byPartition = new Map()));
    let list = byPartition.get(partition);
    if (list === undefined) byPartition.set(partition, (list = []));
    list.push(pending);
    this.#pendingCount++;
    if (!this.#checkScheduled) {
      this.#checkScheduled = true;
      void SETTLED.then(this.#flushOrWait);
    }
  }

  /**
   * At the end of a synchronous run (one socket read): a big run leaves at once, so the writer
   * commits it while the main thread parses the next socket; a few publishes wait for the end of
   * the event-loop turn, to share one batch with what the other sockets bring (a thousand devices
   * sending one publish each per read would otherwise cost a thousand batches).
   */
  private flushOrWait(): void {
    this.#checkScheduled = false;
    if (this.#pendingCount >= EARLY_FLUSH_RECORDS) return this.flush();
    if (this.#flushAtTurnEnd) return;
    this.#flushAtTurnEnd = true;
    setImmediate(() => {
      this.#flushAtTurnEnd = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.#pendingCount === 0) return;
    const pending = this.#pending;
    this.#pending = new Map();
    this.#pendingCount = 0;
    for (const [topic, byPartition] of pending) {
      for (const [partition, list] of byPartition) {
        // Each connection's acknowledgements of this append leave in one write (ack-queue.ts).
        this.log.append(topic, partition, list.map((p) => p.record)).then(
          (info: AppendInfo) => releasingTogether(() => list.forEach((p, i) => p.stored(info.baseOffset + i, false))),
          (err: unknown) => releasingTogether(() => list.forEach((p) => p.failed(err))),
        );
      }
    }
  }
}
