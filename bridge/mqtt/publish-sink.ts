// Where an MQTT publish goes into the log: the mapping picks the log topic and key, the key picks
// the partition (Kafka's partitioner), and publishes that arrive in the same event-loop turn for the
// same partition share one record batch. aedes hands every packet of a socket read to its handlers
// at once, so a read of 100 publishes becomes one batch (one row, one CRC) instead of 100, and all
// batches of the turn share one group commit in the writer thread.
import type { Logger } from 'pino';
import { UnknownTopicError } from '../../broker/errors.js';
import type { AppendInfo, IdempotenceKey, Log } from '../../broker/log/log.js';
import type { RecordInput } from '../../broker/log/record-batch.js';
import { KeylessSpreader, partitionForKey } from '../../broker/murmur2.js';
import type { TopicMapper } from './mapping.js';

export interface IncomingPublish {
  clientId: string;
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** Set for QoS 2: stored at most once while held (released at PUBREL). */
  idempotenceKey?: IdempotenceKey;
}

export type StoreOutcome =
  | { kind: 'stored'; topic: string; partition: number; offset: number; duplicate: boolean }
  | { kind: 'unmatched' }
  | { kind: 'refused'; reason: string };

interface Pending {
  record: RecordInput;
  resolve: (info: { offset: number; duplicate: boolean }) => void;
  reject: (err: unknown) => void;
}

const QOS_BYTES = [Buffer.from('0'), Buffer.from('1'), Buffer.from('2')] as const;
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');

export class PublishSink {
  /** Records waiting for this turn's flush, per log topic and partition. */
  #pending = new Map<string, Map<number, Pending[]>>();
  #flushScheduled = false;
  #creating = new Map<string, Promise<void>>();
  readonly #spreader = new KeylessSpreader();

  constructor(
    private readonly log: Log,
    private readonly mapper: TopicMapper,
    private readonly newTopicPartitions: number,
    private readonly logger: Logger,
  ) {}

  async store(publish: IncomingPublish): Promise<StoreOutcome> {
    const route = this.mapper.route(publish.topic, publish.clientId);
    if (route === null) return { kind: 'unmatched' };
    if ('refused' in route) return { kind: 'refused', reason: route.refused };
    const partitions = this.partitionCount(route.topic) ?? (await this.createTopic(route.topic));
    const partition = route.key === null ? this.#spreader.next(route.topic, partitions) : partitionForKey(route.key, partitions);
    const record: RecordInput = {
      timestamp: Date.now(),
      key: route.key,
      value: publish.payload,
      headers: [
        ['mqtt.topic', Buffer.from(publish.topic)],
        ['mqtt.qos', QOS_BYTES[publish.qos]],
        ['mqtt.retain', publish.retain ? TRUE : FALSE],
        ['mqtt.client_id', Buffer.from(publish.clientId)],
      ],
    };
    const { offset, duplicate } =
      publish.idempotenceKey === undefined
        ? await this.enqueue(route.topic, partition, record)
        : await this.appendAlone(route.topic, partition, record, publish.idempotenceKey);
    return { kind: 'stored', topic: route.topic, partition, offset, duplicate };
  }

  /** Waits until what was handed over has been appended (for shutdown). */
  async drain(): Promise<void> {
    while (this.#flushScheduled) await new Promise((resolve) => setImmediate(resolve));
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
        this.logger.info({ topic, partitions: this.newTopicPartitions }, 'created log topic named by a mapping rule');
      });
      this.#creating.set(topic, creating);
      creating.catch(() => this.#creating.delete(topic));
    }
    await creating;
    return this.log.partitionCount(topic);
  }

  /** A keyed (QoS 2) append is its own batch: the key covers exactly that one record. */
  private async appendAlone(topic: string, partition: number, record: RecordInput, key: IdempotenceKey): Promise<{ offset: number; duplicate: boolean }> {
    const info = await this.log.append(topic, partition, [record], { idempotenceKey: key });
    return { offset: info.baseOffset, duplicate: info.duplicate };
  }

  private enqueue(topic: string, partition: number, record: RecordInput): Promise<{ offset: number; duplicate: boolean }> {
    return new Promise((resolve, reject) => {
      let byPartition = this.#pending.get(topic);
      if (byPartition === undefined) this.#pending.set(topic, (byPartition = new Map()));
      let list = byPartition.get(partition);
      if (list === undefined) byPartition.set(partition, (list = []));
      list.push({ record, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.#flushScheduled = false;
    const pending = this.#pending;
    this.#pending = new Map();
    for (const [topic, byPartition] of pending) {
      for (const [partition, list] of byPartition) {
        this.log.append(topic, partition, list.map((p) => p.record)).then(
          (info: AppendInfo) => list.forEach((p, i) => p.resolve({ offset: info.baseOffset + i, duplicate: false })),
          (err: unknown) => list.forEach((p) => p.reject(err)),
        );
      }
    }
  }
}
