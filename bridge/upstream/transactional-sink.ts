// Exactly-once delivery: each batch and the cursor records of the partitions it advances are
// produced in one Kafka transaction by a producer whose transactional id is fixed per node
// (`tributary-<node.id>`). See docs/upstream.md for why every crash point is safe; in short:
//  - open() first initialises the producer id: Kafka bumps the epoch (fencing any older producer
//    of this node, whose later requests are refused) and completes the previous incarnation's
//    transaction (a prepared commit is finished, an open one aborted) before it answers;
//  - only then are the cursors read back, read_committed, up to the high-water mark taken then,
//    once the last stable offset has reached it (committed-reader.ts: other gateways' open
//    transactions on a shared cursor topic hold it back), so they describe exactly the
//    transactions that committed, and forwarding resumes there;
//  - after any error the producer is dropped and open() runs again: whatever the last
//    transaction's fate was, the cursors read back say what is upstream.
import { Consumer, Producer } from '@platformatic/kafka';
import type { BaseOptions } from '@platformatic/kafka';
import { cursorMessage, readCursors } from './cursor-topic.js';
import type { Delivery, UpstreamSink } from './sink.js';

export interface TransactionalSinkOptions {
  base: BaseOptions;
  node: string;
  cursorTopic: string;
  logId: string;
  compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  /** Kafka aborts a transaction open longer than this (sent in InitProducerId), in ms. */
  transactionTimeout: number;
}

/** How long past the transaction timeout Kafka may take to abort a timed-out transaction (its check runs every 10 s by default). */
const ABORT_MARGIN_MS = 30_000;

type Transaction = Awaited<ReturnType<Producer<Buffer, Buffer, Buffer, Buffer>['beginTransaction']>>;

export function transactionalId(node: string): string {
  return `tributary-${node}`;
}

export class TransactionalSink implements UpstreamSink {
  private producer: Producer<Buffer, Buffer, Buffer, Buffer> | null = null;
  private pending: Transaction | null = null;

  constructor(private readonly options: TransactionalSinkOptions) {}

  async open(progress?: (note: string | null) => void): Promise<Map<string, number>> {
    const { base, node, cursorTopic, logId, compression, transactionTimeout } = this.options;
    this.producer = new Producer<Buffer, Buffer, Buffer, Buffer>({
      ...base,
      idempotent: true,
      transactionalId: transactionalId(node),
      compression,
      autocreateTopics: false,
      // The client sends `timeout` as the transaction timeout in InitProducerId (and as the
      // produce request's ack timeout): a separate, longer setting than requestTimeout.
      timeout: transactionTimeout,
      // "No expected producer": the client would otherwise send producer id 0 / epoch 0, which
      // Kafka (KIP-360) reads as "I am producer 0" and answers with PRODUCER_FENCED whenever
      // this node's producer id is not 0, i.e. on every reconnect.
      producerId: -1n,
      producerEpoch: -1,
    });
    // Begins client-side only; its InitProducerId is the fencing step described above.
    this.pending = await this.producer.beginTransaction();
    const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({ ...base, clientId: `${base.clientId}-cursors`, groupId: `${transactionalId(node)}-cursors` });
    try {
      // Gateways sharing the cursor topic may hold a transaction open for up to their transaction timeout.
      return await readCursors(consumer, cursorTopic, node, logId, { maxWaitMs: transactionTimeout + ABORT_MARGIN_MS, progress });
    } finally {
      // Not awaited: a close stuck on a dead connection must not fail a connect that read its cursors.
      void consumer.close().catch(() => undefined);
    }
  }

  async deliver(delivery: Delivery): Promise<void> {
    const producer = this.producer;
    if (producer === null) throw new Error('the transactional sink is not open');
    const tx = this.pending ?? (await producer.beginTransaction());
    this.pending = null;
    const { node, cursorTopic, logId } = this.options;
    const cursors = delivery.cursors.map((c) => cursorMessage(cursorTopic, node, c.topic, c.partition, { nextOffset: c.nextOffset, log: logId }));
    await tx.send({ messages: [...delivery.messages, ...cursors] });
    await tx.commit();
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = null;
    this.pending = null;
    // No abort here: Kafka may be gone, and the next open() (InitProducerId) aborts an open transaction anyway.
    await producer?.close().catch(() => undefined);
  }
}
