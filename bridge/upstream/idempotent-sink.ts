// At-least-once delivery: an idempotent producer (no duplicates from its own retries within a
// connection), then the cursor goes to the local cursor store (cursors.db, fsynced). A crash
// after Kafka acknowledged a batch and before the cursor commit sends that batch again on
// restart: duplicates are possible, loss is not. Cheaper: no transaction round trips.
import { Producer, type BaseOptions } from '@platformatic/kafka';
import { UPSTREAM_GROUP, type CursorStore } from '../../broker/cursors.js';
import { laneKey, type Delivery, type UpstreamSink } from './sink.js';

/** The cursor-store group of the at-least-once forwarder. */
export const CURSOR_GROUP = UPSTREAM_GROUP;

export class IdempotentSink implements UpstreamSink {
  private producer: Producer<Buffer, Buffer, Buffer, Buffer> | null = null;

  constructor(
    private readonly base: BaseOptions,
    private readonly compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd',
    private readonly cursors: CursorStore,
  ) {}

  async open(): Promise<Map<string, number>> {
    this.producer = new Producer<Buffer, Buffer, Buffer, Buffer>({ ...this.base, idempotent: true, compression: this.compression, autocreateTopics: false });
    await this.producer.initIdempotentProducer({});
    return new Map(this.cursors.list().filter((c) => c.group === CURSOR_GROUP).map((c) => [laneKey(c.topic, c.partition), c.nextOffset]));
  }

  async deliver(delivery: Delivery): Promise<void> {
    if (this.producer === null) throw new Error('the idempotent sink is not open');
    // Only cursors move when retention skipped records that were never forwarded.
    if (delivery.messages.length > 0) await this.producer.send({ messages: delivery.messages });
    this.cursors.commitMany(CURSOR_GROUP, delivery.cursors);
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = null;
    await producer?.close().catch(() => undefined);
  }
}
