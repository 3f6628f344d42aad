// The batch size the link can take now. A batch that Kafka could not take within its time is too
// big for the link, and sending the same batch again would fail the same way, forever: with
// transactions, Kafka aborts one open longer than upstream.transactionTimeout and bumps the epoch.
// So a delivery that failed slowly halves the batch limits, and each delivered batch doubles them
// back towards the configured ones.
import type { Logger } from 'pino';
import { UpstreamFencedError } from './errors.js';
import { upstreamError } from './kafka-errors.js';
import type { UpstreamConfig } from './kafka-options.js';
import type { Delivery } from './sink.js';

export interface BatchLimits {
  batchRecords: number;
  batchBytes: number;
}

type SizeConfig = Pick<UpstreamConfig, 'batchRecords' | 'batchBytes' | 'transactionTimeout' | 'requestTimeout' | 'mode' | 'brokers'>;

export class AdaptiveBatchSize {
  /** The share of batchRecords / batchBytes used now: halved after a batch too slow for the link. */
  private scale = 1;

  constructor(
    private readonly config: SizeConfig,
    private readonly logger: Logger,
  ) {}

  /** The batch limits now: the configured ones, halved per batch that took too long (at least one record). */
  limits(): BatchLimits {
    const { batchRecords, batchBytes } = this.config;
    return { batchRecords: Math.max(1, Math.floor(batchRecords * this.scale)), batchBytes: Math.max(1, Math.floor(batchBytes * this.scale)) };
  }

  /** A batch was delivered: back towards full batches (double per delivered batch). */
  delivered(): void {
    this.scale = Math.min(1, this.scale * 2);
  }

  /**
   * A delivery failed with `err` after `ms`. One that failed after more than half the transaction
   * timeout (or the watchdog's limit) was too big for the link: the next batches are halved, and
   * a fenced error says that our own timeout caused it, not another producer. Returns the error
   * to report.
   */
  failed(delivery: Delivery, ms: number, err: unknown): unknown {
    const { config } = this;
    const limit = Math.min(config.transactionTimeout, config.requestTimeout * 4);
    if (ms < limit / 2) return err;
    const before = this.limits().batchRecords;
    this.scale = Math.max(1 / 1024, this.scale / 2);
    const slow = `the batch of ${delivery.messages.length} records (${delivery.bytes} bytes) took ${Math.round(ms)} ms`;
    this.logger.warn({ records: delivery.messages.length, ms: Math.round(ms), batchRecordsBefore: before, batchRecordsNow: this.limits().batchRecords }, 'upstream batch too slow for the link; batches halved');
    const error = upstreamError(err, config.brokers);
    if (config.mode === 'exactly-once' && error instanceof UpstreamFencedError && ms >= config.transactionTimeout) {
      return new UpstreamFencedError(
        `Kafka aborted this gateway's own transaction: ${slow}, longer than upstream.transactionTimeout (${config.transactionTimeout} ms); ` +
          `batches are halved until they fit (now ${this.limits().batchRecords} records): ${error.message}`,
        { cause: err },
      );
    }
    return err;
  }
}
