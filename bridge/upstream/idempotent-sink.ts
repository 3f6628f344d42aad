// At-least-once delivery: an idempotent producer (no duplicates from its own retries within a
// connection), then the cursor goes to the local cursor store (cursors.db, fsynced). The cursor is
// written at most every CURSOR_COMMIT_INTERVAL_MS (and on close), not after every batch: one fsync
// per batch would cost a third of the throughput, and a crash then re-sends at most that much more.
// A crash after Kafka acknowledged a batch and before its cursor was written sends it again on
// restart: duplicates are possible, loss is not. Cheaper than exactly-once: no transactions.
import { Producer, type BaseOptions } from '@platformatic/kafka';
import type { CursorStore } from '../../broker/cursors.js';
import { UPSTREAM_GROUP } from './cursor-group.js';
import { partitionKey } from '../shared/partition-key.js';
import type { CursorAdvance, Delivery, UpstreamSink } from './sink.js';

/** The cursor-store group of the at-least-once forwarder. */
export const CURSOR_GROUP = UPSTREAM_GROUP;
export const CURSOR_COMMIT_INTERVAL_MS = 200;

export class IdempotentSink implements UpstreamSink {
  private producer: Producer<Buffer, Buffer, Buffer, Buffer> | null = null;
  /** Cursors of batches Kafka acknowledged, not yet in the cursor store. */
  private readonly unsaved = new Map<string, CursorAdvance>();
  private lastSave = 0;

  constructor(
    private readonly base: BaseOptions,
    private readonly compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd',
    private readonly cursors: CursorStore,
  ) {}

  async open(): Promise<Map<string, number>> {
    this.producer = new Producer<Buffer, Buffer, Buffer, Buffer>({ ...this.base, idempotent: true, compression: this.compression, autocreateTopics: false });
    await this.producer.initIdempotentProducer({});
    return new Map(this.cursors.list().filter((c) => c.group === CURSOR_GROUP).map((c) => [partitionKey(c.topic, c.partition), c.nextOffset]));
  }

  async deliver(delivery: Delivery): Promise<void> {
    if (this.producer === null) throw new Error('the idempotent sink is not open');
    // Only cursors move when retention skipped records that were never forwarded.
    if (delivery.messages.length > 0) await this.producer.send({ messages: delivery.messages });
    for (const c of delivery.cursors) this.unsaved.set(partitionKey(c.topic, c.partition), c);
    if (Date.now() - this.lastSave >= CURSOR_COMMIT_INTERVAL_MS) this.save();
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = null;
    try {
      this.save(); // what Kafka acknowledged, also when closing after an error
    } catch {
      // The cursor store failed (disk full?): those batches are sent again later, as at-least-once allows.
    }
    await producer?.close().catch(() => undefined);
  }

  private save(): void {
    if (this.unsaved.size > 0) this.cursors.commitMany(CURSOR_GROUP, [...this.unsaved.values()]);
    this.unsaved.clear();
    this.lastSave = Date.now();
  }
}
