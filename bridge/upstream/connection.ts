// One connection to the central Kafka: an admin client for the topics and the sink of the
// configured mode, opened together (the cursor topic made sure of, the producer fenced, the
// cursors read back) and dropped together. The forwarder makes a new one after every error, so
// nothing of a failed connection is used again.
import type { Logger } from 'pino';
import type { CursorStore } from '../../broker/cursors.js';
import { checkCursorTopic, CURSOR_TOPIC_CONFIGS } from './cursor-topic.js';
import { IdempotentSink } from './idempotent-sink.js';
import { kafkaBaseOptions, type UpstreamConfig } from './kafka-options.js';
import type { UpstreamSink } from './sink.js';
import { TransactionalSink } from './transactional-sink.js';
import { UpstreamTopics } from './upstream-topics.js';
import { bounded, Heartbeat, watchdog } from './watchdog.js';

/** How often at most a long wait for another producer's transaction is logged. */
const WAITING_LOG_INTERVAL_MS = 5000;

export interface ConnectionOptions {
  config: UpstreamConfig;
  node: string;
  /** The local cursor store (at-least-once mode). */
  cursors: CursorStore;
  /** This data directory's log id (exactly-once cursors carry it). */
  logId: string;
  logger: Logger;
}

export class UpstreamConnection {
  readonly topics: UpstreamTopics;
  readonly sink: UpstreamSink;

  /** Makes the clients; nothing is sent before open(). Throws on unreadable TLS files. */
  constructor(private readonly options: ConnectionOptions) {
    const { config, node, cursors, logId } = options;
    const base = kafkaBaseOptions(config, `tributary-${node}`);
    this.topics = new UpstreamTopics(base, config.createTopics, config.replicationFactor);
    this.sink =
      config.mode === 'exactly-once'
        ? new TransactionalSink({ base, node, cursorTopic: config.cursorTopic, logId, compression: config.compression, transactionTimeout: config.transactionTimeout })
        : new IdempotentSink(base, config.compression, cursors);
  }

  /**
   * Connects and returns the durable cursors (`topic/partition` -> next offset). `note` is told
   * what a long cursor read is doing or waiting for (null: done).
   */
  async open(note: (text: string | null) => void): Promise<Map<string, number>> {
    const { config, logger } = this.options;
    if (config.mode === 'exactly-once') {
      const topics = this.topics;
      await this.guard(
        (async () => {
          await topics.ensure([{ name: config.cursorTopic, partitions: 1, configs: CURSOR_TOPIC_CONFIGS }]);
          await checkCursorTopic(topics, config.cursorTopic);
        })(),
        `making sure the cursor topic ${config.cursorTopic} exists`,
      );
    }
    const alive = new Heartbeat();
    let lastLogged = 0;
    const progress = (text: string | null): void => {
      alive.beat();
      note(text);
      // A wait for another producer's transaction can last its transaction timeout: say so now and then.
      if (text !== null && text.startsWith('waiting') && Date.now() - lastLogged >= WAITING_LOG_INTERVAL_MS) {
        lastLogged = Date.now();
        logger.warn({ cursorTopic: config.cursorTopic }, text);
      }
    };
    return this.guard(this.sink.open(progress), 'connecting and reading the cursors', alive);
  }

  /** Fails an operation on this connection that Kafka leaves unanswered (see watchdog.ts). */
  guard<T>(operation: Promise<T>, what: string, alive?: Heartbeat): Promise<T> {
    return watchdog(operation, what, this.options.config.requestTimeout * 4, alive);
  }

  /**
   * Drops the connection. Bounded: a close waiting on a dead connection must not hang a reconnect
   * or the shutdown. What is left behind holds no durable state (the next connect fences and
   * re-reads the cursors).
   */
  close(): Promise<void> {
    return bounded(Promise.all([this.sink.close(), this.topics.close().catch(() => undefined)]), this.options.config.requestTimeout);
  }
}
