// The upstream forwarder: mirrors log partitions to Kafka from durable cursors, in bounded
// batches, through outages. This file is its run loop: connect (fence, read cursors) -> read a
// batch from the partitions that have new records -> deliver it with its cursors -> repeat; on
// any error drop the connection, wait (capped exponential backoff with jitter) and connect again,
// which rewinds every partition to its durable cursor. Ingest never waits for this loop.
// The parts it drives, one job each: connection.ts (the Kafka clients of one connection),
// lane-table.ts (the forwarded partitions and their positions), batch-builder.ts (reading a batch
// from the log), batch-size.ts (the batch limits a slow link can take), status.ts (what it shows).
import type { Logger } from 'pino';
import type { CursorStore } from '../../broker/cursors.js';
import type { Log } from '../../broker/log/log.js';
import { isTopicName, TOPIC_NAME_RULE } from '../../broker/log/topic-name.js';
import { backoffDelay } from '../backoff.js';
import { ConfigInvalidError } from '../config/errors.js';
import { BatchBuilder, type Draft } from './batch-builder.js';
import { AdaptiveBatchSize } from './batch-size.js';
import { UpstreamConnection } from './connection.js';
import { logIdentity } from './cursor-topic.js';
import { UpstreamFencedError } from './errors.js';
import { upstreamError } from './kafka-errors.js';
import type { UpstreamConfig } from './kafka-options.js';
import { LaneTable } from './lane-table.js';
import type { Delivery } from './sink.js';
import { newCounters, upstreamStatus, type ForwarderState, type UpstreamCounters, type UpstreamStatus } from './status.js';
import { upstreamTopicName } from './upstream-record.js';
import { sleep } from './watchdog.js';

export type { ForwarderState, PartitionStatus, UpstreamCounters, UpstreamStatus } from './status.js';

/**
 * The longest one idle wait lasts before the loop looks around again. Only a safety net: the wait
 * ends when records are committed, a partition is added or close() is called.
 */
const IDLE_WAIT_MS = 60_000;

export interface ForwarderOptions {
  config: UpstreamConfig;
  /**
   * The name this forwarder forwards as: the transactional id (`tributary-<node>`), the cursor keys,
   * `{node}` in upstream topic names and the `tributary.node` header. `node.id` on a single node,
   * `cluster.name` in a cluster (every replica forwards as the same producer).
   */
  node: string;
  /** The log id the exactly-once cursors carry; default: the data directory's own (a single node). */
  logId?: string;
  /**
   * In a cluster: whether this node still leads with its lease. Checked before every connect and
   * every batch: a deposed leader (resumed from SIGSTOP, cut off) neither starts a transaction nor
   * re-initialises the producer, which would fence the new leader's. Absent: always.
   */
  leads?: () => boolean;
  log: Log;
  /** The local cursor store (at-least-once mode). */
  cursors: CursorStore;
  logger: Logger;
}

export class Forwarder {
  private readonly lanes: LaneTable;
  private readonly size: AdaptiveBatchSize;
  private readonly batches: BatchBuilder;
  private readonly counters: UpstreamCounters = newCounters();
  private state: ForwarderState = 'connecting';
  private lastError: UpstreamStatus['lastError'] = null;
  private connectNote: string | null = null;
  private connection: UpstreamConnection | null = null;
  private closing = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> = Promise.resolve();
  private closed: Promise<void> | null = null;
  private readonly logId: string;

  private constructor(private readonly options: ForwarderOptions) {
    const { config, node, log, logger } = options;
    this.logId = options.logId ?? logIdentity(log.dataDir);
    this.lanes = new LaneTable({ log, node, topics: config.topics, topicTemplate: config.topicTemplate });
    this.size = new AdaptiveBatchSize(config, logger);
    this.batches = new BatchBuilder({
      log,
      node,
      lanes: this.lanes,
      size: this.size,
      logger,
      lost: (records) => {
        this.counters.recordsLostToRetention += records;
      },
    });
  }

  /** Starts forwarding in the background; never waits for Kafka. */
  static start(options: ForwarderOptions): Forwarder {
    const sample = upstreamTopicName(options.config.topicTemplate, options.node, 'topic');
    if (!isTopicName(sample)) {
      throw new ConfigInvalidError([{ key: 'upstream.topicTemplate', message: `gives '${sample}' with node.id '${options.node}': not a valid Kafka topic name (${TOPIC_NAME_RULE})` }], 'upstream');
    }
    const forwarder = new Forwarder(options);
    forwarder.loop = forwarder.run();
    return forwarder;
  }

  /** What the forwarder is doing and where each partition stands. Reads only. */
  /** See LaneTable.forwardedBelow: what the disk budget may delete early. */
  forwardedBelow(topic: string, partition: number): number | null {
    return this.lanes.forwardedBelow(topic, partition);
  }

  status(): UpstreamStatus {
    return upstreamStatus({
      config: this.options.config,
      state: this.state,
      lastError: this.lastError,
      connectNote: this.connectNote,
      counters: this.counters,
      lanes: this.lanes.values(),
      log: this.options.log,
    });
  }

  /** Stops forwarding: lets a delivery under way finish for a moment, then drops the connection. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      this.wake?.();
      await Promise.race([this.loop, sleep(3000)]);
      await this.disconnect();
      await Promise.race([this.loop, sleep(3000)]);
      this.lanes.close();
      this.state = 'closed';
    })();
    return this.closed;
  }

  private async run(): Promise<void> {
    const { config, logger } = this.options;
    let attempt = 0;
    while (!this.closing) {
      if (!this.leading()) {
        // Not the leader (any more): no connect, whose InitProducerId would fence the leader's producer.
        // The node stops this forwarder when its role changes; until then it looks again now and then.
        if (this.state !== 'stopped') logger.warn('this node no longer leads the cluster: upstream forwarding stops here');
        this.state = 'stopped';
        await this.pause(config.retryInitial);
        continue;
      }
      try {
        this.state = 'connecting';
        await this.connect();
        this.state = 'forwarding';
        if (attempt > 0) logger.info({ afterAttempts: attempt }, 'upstream Kafka reachable again; catching up');
        attempt = 0;
        await this.forward();
      } catch (err) {
        if (this.closing) break;
        const error = upstreamError(err, config.brokers);
        this.counters.errors += 1;
        this.lastError = { code: error.code, message: error.message, at: new Date().toISOString() };
        // The state changes with the error count, before any await, so a status never shows one without the other.
        this.state = error.retriable ? 'retrying' : 'stopped';
        await this.disconnect();
        if (!error.retriable) {
          logger.error({ code: error.code, err: error.message }, 'upstream forwarding stopped; ingest goes on');
          return;
        }
        const delay = backoffDelay(attempt++, config.retryInitial, config.retryMax);
        logger.warn({ code: error.code, err: error.message, attempt, retryInMs: delay }, 'upstream Kafka unavailable; records stay in the log and are forwarded later');
        await this.pause(delay);
      }
    }
  }

  /** Opens a connection and rewinds every partition to its durable cursor. */
  private async connect(): Promise<void> {
    const { config, node, cursors, logger } = this.options;
    const connection = new UpstreamConnection({ config, node, cursors, logId: this.logId, logger });
    this.counters.connects += 1;
    // Held before it opens, so that close() can drop a connect that waits.
    this.connection = connection;
    this.connectNote = null;
    const durable = await connection.open((note) => {
      this.connectNote = note;
    });
    this.lanes.connected(durable);
  }

  private async disconnect(): Promise<void> {
    const connection = this.connection;
    this.connection = null;
    this.lanes.disconnected();
    await connection?.close();
  }

  /** Delivers batch after batch until an error, or close(). */
  private async forward(): Promise<void> {
    let ahead: Draft | null = null;
    while (!this.closing) {
      const connection = this.connection;
      if (connection === null) return;
      if (!this.leading()) throw new UpstreamFencedError('this node no longer leads the cluster: it forwards nothing more (the new leader resumes from the cursors upstream)');
      await this.lanes.prepare((wishes) => connection.guard(connection.topics.ensure(wishes), `making sure the upstream topics ${wishes.map((w) => w.name).join(', ')} exist`));
      // What was read ahead, topped up with what arrived since: a record appended while a
      // delivery is under way goes in the very next one, not in the one after.
      const draft = this.batches.collect(ahead, Infinity);
      ahead = null;
      if (draft === null) {
        await this.idle();
        continue;
      }
      this.lanes.rotate(draft.cursors);
      const current: Delivery = { messages: draft.messages, cursors: draft.cursors, bytes: draft.bytes };
      const started = performance.now();
      const delivering: Promise<void> = connection.guard(connection.sink.deliver(current), `delivering ${current.messages.length} records`);
      // Both settle before an error propagates: a reconnect rewinds the read positions, and no
      // read-ahead may move them after that.
      const [delivered, read]: [PromiseSettledResult<void>, PromiseSettledResult<Draft | null>] = await Promise.allSettled([delivering, this.batches.readAhead()]);
      if (delivered.status === 'rejected') throw this.size.failed(current, performance.now() - started, delivered.reason);
      if (read.status === 'rejected') throw read.reason;
      this.size.delivered();
      this.applied(current);
      this.options.logger.debug({ records: current.messages.length, partitions: current.cursors.length, ms: Math.round(performance.now() - started) }, 'batch delivered');
      ahead = read.value;
    }
  }

  private leading(): boolean {
    return this.options.leads?.() ?? true;
  }

  private applied(delivery: Delivery): void {
    this.lanes.applied(delivery.cursors);
    this.counters.recordsForwarded += delivery.messages.length;
    this.counters.bytesForwarded += delivery.bytes;
    this.counters.batchesForwarded += 1;
  }

  /**
   * Caught up: waits, without polling, until a forwarded partition has committed records past its
   * read position (Log.waitFor), a partition is added or close() is called; then lingers
   * (upstream.linger) so that more records can join the next batch.
   */
  private async idle(): Promise<void> {
    const { log } = this.options;
    const abort = new AbortController();
    const woken = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
    this.wake = () => abort.abort();
    const unsubscribe = log.onPartitionsAdded(() => abort.abort());
    try {
      // A lane added since the last look (its upstream topic not known yet) is not waited on: look again.
      if (this.closing || this.lanes.unprepared().length > 0) return;
      const waits = [...this.lanes.values()]
        .filter((lane) => lane.builder !== null && !lane.halted)
        // A wait that fails (the log closing) ends the idle wait: the next read says what is wrong.
        .map((lane) => log.waitFor(lane.topic, lane.partition, lane.readPosition, IDLE_WAIT_MS, abort.signal).then(() => undefined, () => undefined));
      await Promise.race([woken, ...waits]);
    } finally {
      abort.abort(); // the other waits end and drop their timers
      unsubscribe();
      this.wake = null;
    }
    if (!this.closing) await this.pause(Math.max(1, this.options.config.linger));
  }

  /** Waits `ms`, or less if close() is called. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }
}
