// The upstream forwarder: mirrors log partitions to Kafka from durable cursors, in bounded
// batches, through outages. One loop: connect (fence, read cursors) -> read a batch from the
// partitions that have new records -> deliver it with its cursors -> repeat; on any error drop
// the connection, wait (capped exponential backoff with jitter) and connect again, which rewinds
// every partition to its durable cursor. Ingest never waits for this loop.
import type { Logger } from 'pino';
import { ConfigInvalidError } from '../config/errors.js';
import { TributaryError } from '../../broker/errors.js';
import { UpstreamCursorConflictError, UpstreamFencedError, UpstreamUnavailableError } from './errors.js';
import type { CursorStore } from '../../broker/cursors.js';
import type { Log } from '../../broker/log/log.js';
import { isTopicName, TOPIC_NAME_RULE } from '../../broker/log/topic-name.js';
import { backoffDelay } from '../backoff.js';
import { partitionKey } from '../shared/partition-key.js';
import { checkCursorTopic, CURSOR_TOPIC_CONFIGS, logIdentity } from './cursor-topic.js';
import { IdempotentSink } from './idempotent-sink.js';
import { upstreamError } from './kafka-errors.js';
import { kafkaBaseOptions, type UpstreamConfig } from './kafka-options.js';
import { Lane } from './lane.js';
import type { Delivery, UpstreamSink } from './sink.js';
import { TransactionalSink } from './transactional-sink.js';
import { MessageBuilder, upstreamSize, upstreamTopicName } from './upstream-record.js';
import { UpstreamTopics } from './upstream-topics.js';

/**
 * The longest one idle wait lasts before the loop looks around again. Only a safety net: the wait
 * ends when records are committed, a partition is added or close() is called.
 */
const IDLE_WAIT_MS = 60_000;

/** Records read per slice of a read-ahead (about half a millisecond of work). */
const READ_AHEAD_SLICE = 500;

/** A batch being read: `full` once it reached the batch limits. */
interface Draft extends Delivery {
  full: boolean;
}

export type ForwarderState = 'connecting' | 'forwarding' | 'retrying' | 'stopped' | 'closed';

export interface PartitionStatus {
  topic: string;
  partition: number;
  upstreamTopic: string;
  /** The next offset durable upstream (null: not known yet, e.g. Kafka never reached). */
  forwardedOffset: number | null;
  /** The offset the next record appended will get. */
  logEndOffset: number;
  /** Records below it are committed: the forwarder reads up to here (the log end on a single node). */
  highWatermark: number;
  /** @deprecated The log end offset under its old name, kept for users of /api/upstream; read logEndOffset. */
  highWaterMark: number;
  logStartOffset: number;
  /** Records stored but not yet durable upstream. */
  lag: number;
  state: 'waiting' | 'forwarding' | 'caught-up' | 'error';
  lastError: { code: string; message: string } | null;
  recordsForwarded: number;
  recordsLostToRetention: number;
}

export interface UpstreamCounters {
  recordsForwarded: number;
  bytesForwarded: number;
  batchesForwarded: number;
  errors: number;
  connects: number;
  recordsLostToRetention: number;
}

export interface UpstreamStatus {
  enabled: true;
  mode: UpstreamConfig['mode'];
  state: ForwarderState;
  brokers: string[];
  lastError: { code: string; message: string; at: string } | null;
  /** While connecting: what a long cursor read is doing or waiting for (e.g. another producer's open transaction). */
  connecting: string | null;
  totalLag: number;
  counters: UpstreamCounters;
  partitions: PartitionStatus[];
}

export interface ForwarderOptions {
  config: UpstreamConfig;
  node: string;
  log: Log;
  /** The local cursor store (at-least-once mode). */
  cursors: CursorStore;
  logger: Logger;
}

export class Forwarder {
  private readonly lanes = new Map<string, Lane>();
  /** The durable cursors as last read back or committed: `topic/partition` -> next offset. */
  private durable = new Map<string, number>();
  private readonly counters: UpstreamCounters = { recordsForwarded: 0, bytesForwarded: 0, batchesForwarded: 0, errors: 0, connects: 0, recordsLostToRetention: 0 };
  private state: ForwarderState = 'connecting';
  private lastError: UpstreamStatus['lastError'] = null;
  private connectNote: string | null = null;
  /** The share of batchRecords / batchBytes used now: halved after a batch too slow for the link. */
  private batchScale = 1;
  private sink: UpstreamSink | null = null;
  private topics: UpstreamTopics | null = null;
  private closing = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> = Promise.resolve();
  private closed: Promise<void> | null = null;
  private readonly logId: string;

  private constructor(private readonly options: ForwarderOptions) {
    this.logId = logIdentity(options.log.dataDir);
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

  status(): UpstreamStatus {
    this.discoverLanes();
    const partitions = [...this.lanes.values()].map((lane) => this.laneStatus(lane));
    return {
      enabled: true,
      mode: this.options.config.mode,
      state: this.state,
      brokers: [...this.options.config.brokers],
      lastError: this.lastError,
      connecting: this.state === 'connecting' ? this.connectNote : null,
      totalLag: partitions.reduce((sum, p) => sum + p.lag, 0),
      counters: { ...this.counters },
      partitions,
    };
  }

  /** Stops forwarding: lets a delivery under way finish for a moment, then drops the connection. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      this.wake?.();
      await Promise.race([this.loop, sleep(3000)]);
      await this.disconnect();
      await Promise.race([this.loop, sleep(3000)]);
      this.state = 'closed';
    })();
    return this.closed;
  }

  private async run(): Promise<void> {
    const { config, logger } = this.options;
    let attempt = 0;
    while (!this.closing) {
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

  /** Opens the sink and rewinds every partition to its durable cursor. */
  private async connect(): Promise<void> {
    const { config, node, cursors, log } = this.options;
    const base = kafkaBaseOptions(config, `tributary-${node}`);
    this.counters.connects += 1;
    this.topics = new UpstreamTopics(base, config.createTopics, config.replicationFactor);
    if (config.mode === 'exactly-once') {
      const topics = this.topics;
      await this.watchdog(
        (async () => {
          await topics.ensure([{ name: config.cursorTopic, partitions: 1, configs: CURSOR_TOPIC_CONFIGS }]);
          await checkCursorTopic(topics, config.cursorTopic);
        })(),
        `making sure the cursor topic ${config.cursorTopic} exists`,
      );
      this.sink = new TransactionalSink({ base, node, cursorTopic: config.cursorTopic, logId: this.logId, compression: config.compression, transactionTimeout: config.transactionTimeout });
    } else {
      this.sink = new IdempotentSink(base, config.compression, cursors);
    }
    const alive = new Heartbeat();
    let lastNote = 0;
    const progress = (note: string | null): void => {
      alive.beat();
      this.connectNote = note;
      // A wait for another producer's transaction can last its transaction timeout: say so now and then.
      if (note !== null && note.startsWith('waiting') && Date.now() - lastNote >= 5000) {
        lastNote = Date.now();
        this.options.logger.warn({ cursorTopic: config.cursorTopic }, note);
      }
    };
    this.connectNote = null;
    const durable = await this.watchdog(this.sink.open(progress), 'connecting and reading the cursors', alive);
    this.discoverLanes();
    for (const lane of this.lanes.values()) {
      lane.builder = null; // partition counts upstream are looked up again
      lane.rewind(durable.get(lane.key), log.partition(lane.topic, lane.partition).logStartOffset);
    }
    this.durable = durable;
  }

  private async disconnect(): Promise<void> {
    const sink = this.sink;
    const topics = this.topics;
    this.sink = null;
    this.topics = null;
    // Bounded: a close waiting on a dead connection must not hang a reconnect or the shutdown.
    // What is left behind holds no durable state (the next connect fences and re-reads the cursors).
    await bounded(Promise.all([sink?.close(), topics?.close().catch(() => undefined)]), this.options.config.requestTimeout);
  }

  private async forward(): Promise<void> {
    let ahead: Draft | null = null;
    while (!this.closing) {
      this.discoverLanes();
      await this.prepareLanes();
      // What was read ahead, topped up with what arrived since: a record appended while a
      // delivery is under way goes in the very next one, not in the one after.
      const draft = this.collect(ahead, Infinity);
      ahead = null;
      if (draft === null) {
        await this.idle();
        continue;
      }
      this.rotate(draft);
      const sink = this.sink;
      if (sink === null) return;
      const current: Delivery = { messages: draft.messages, cursors: draft.cursors, bytes: draft.bytes };
      const started = performance.now();
      const delivering: Promise<void> = this.watchdog(sink.deliver(current), `delivering ${current.messages.length} records`);
      // Both settle before an error propagates: a reconnect rewinds the read positions, and no
      // read-ahead may move them after that.
      const [delivered, read]: [PromiseSettledResult<void>, PromiseSettledResult<Draft | null>] = await Promise.allSettled([delivering, this.readAhead()]);
      if (delivered.status === 'rejected') throw this.slowBatch(current, performance.now() - started, delivered.reason);
      if (read.status === 'rejected') throw read.reason;
      // Back towards full batches after a slow one: double per delivered batch.
      this.batchScale = Math.min(1, this.batchScale * 2);
      this.applied(current);
      this.options.logger.debug({ records: current.messages.length, partitions: current.cursors.length, ms: Math.round(performance.now() - started) }, 'batch delivered');
      ahead = read.value;
    }
  }

  /**
   * Reads the next batch while Kafka works on the current one, a slice at a time, yielding to
   * I/O between slices: the client's own work on the delivery (handling an answer, encoding the
   * produce request, sending the commit) runs on this thread too, and a read of a whole batch in
   * one go would hold it up (with a transaction per batch, the AddPartitionsToTxn answer arrives
   * within a millisecond, and a 10,000-record read then delayed the produce request by its
   * whole length instead of overlapping Kafka's work on it).
   */
  private async readAhead(): Promise<Draft | null> {
    let draft: Draft | null = null;
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      const before = draft?.messages.length ?? 0;
      draft = this.collect(draft, READ_AHEAD_SLICE);
      // Caught up with the log (or full): the rest is topped up when this delivery is done.
      if (draft === null || draft.full || draft.messages.length - before < READ_AHEAD_SLICE) return draft;
    }
  }

  /** Adds a lane for every forwarded partition the log has (topics and partitions appear at run time). */
  private discoverLanes(): void {
    const { config, node, log } = this.options;
    for (const topic of log.topics()) {
      if (config.topics !== null && !config.topics.includes(topic.name)) continue;
      for (const p of topic.partitions) {
        const key = `${topic.name}/${p.partition}`;
        if (this.lanes.has(key)) continue;
        const lane = new Lane(topic.name, p.partition, upstreamTopicName(config.topicTemplate, node, topic.name));
        if (this.sink !== null) lane.rewind(this.durable.get(key), p.logStartOffset);
        this.lanes.set(key, lane);
      }
    }
  }

  /** Makes sure the upstream topics of new lanes exist and knows their partition counts. */
  private async prepareLanes(): Promise<void> {
    const waiting = [...this.lanes.values()].filter((l) => l.builder === null);
    if (waiting.length === 0 || this.topics === null) return;
    const { log, node } = this.options;
    const wishes = [...new Map(waiting.map((l) => [l.upstreamTopic, { name: l.upstreamTopic, partitions: log.partitionCount(l.topic) }])).values()];
    const counts = await this.watchdog(this.topics.ensure(wishes), `making sure the upstream topics ${wishes.map((w) => w.name).join(', ')} exist`);
    for (const lane of waiting) {
      lane.builder = new MessageBuilder(node, lane.partition, log.partitionCount(lane.topic), lane.upstreamTopic, counts.get(lane.upstreamTopic)!);
    }
  }

  /**
   * Reads up to `slice` more records into `draft` (a new one when null): bounded chunks from each
   * partition with new records, oldest first per partition, until the batch limits. Returns null
   * when nothing moved and there was no draft.
   */
  private collect(draft: Draft | null, slice: number): Draft | null {
    const { log } = this.options;
    const { batchRecords, batchBytes } = this.batchLimits();
    const batch: Draft = draft ?? { messages: [], cursors: [], bytes: 0, full: false };
    const { messages } = batch;
    const limit = Math.min(batchRecords, messages.length + slice);
    for (const lane of this.lanes.values()) {
      if (lane.builder === null || lane.halted) continue;
      if (batch.full || messages.length >= limit) break;
      const partition = log.partition(lane.topic, lane.partition);
      const start = lane.readPosition;
      this.skipRetentionGap(lane, partition.logStartOffset);
      if (lane.readPosition > partition.logEndOffset) {
        this.halt(lane, `the upstream cursor (${lane.readPosition}) is past the end of the local log (${partition.logEndOffset}): records acknowledged upstream are missing locally (durability 'write' after a power cut?)`);
        continue;
      }
      try {
        while (!batch.full && lane.readPosition < partition.highWatermark && messages.length < limit) {
          // Whole stored batches: a slice ending inside one would have it decoded twice.
          const read = log.read(lane.topic, lane.partition, lane.readPosition, { maxRecords: limit - messages.length, maxBytes: batchBytes - batch.bytes, wholeBatches: true });
          if (read.records.length === 0) break;
          for (const record of read.records) {
            if (messages.length >= batchRecords) {
              batch.full = true;
              break;
            }
            const size = upstreamSize(record, this.options.node);
            // Always at least one record, so that a record larger than batchBytes still moves (alone).
            if (messages.length > 0 && batch.bytes + size > batchBytes) {
              batch.full = true;
              break;
            }
            messages.push(lane.builder.build(record));
            batch.bytes += size;
            lane.readPosition = record.offset + 1;
          }
        }
        lane.lastError = null;
      } catch (err) {
        // A read racing retention, or a damaged batch: retried on the next round, visible meanwhile.
        lane.lastError = err instanceof TributaryError ? err : upstreamError(err, []);
      }
      if (lane.readPosition !== start) {
        const cursor = batch.cursors.find((c) => c.topic === lane.topic && c.partition === lane.partition);
        if (cursor === undefined) batch.cursors.push({ topic: lane.topic, partition: lane.partition, nextOffset: lane.readPosition });
        else cursor.nextOffset = lane.readPosition;
      }
    }
    if (messages.length >= batchRecords || batch.bytes >= batchBytes) batch.full = true;
    return batch.cursors.length === 0 ? null : batch;
  }

  /** Round robin: the partitions of this batch go last for the next one. */
  private rotate(draft: Draft): void {
    for (const c of draft.cursors) {
      const key = partitionKey(c.topic, c.partition);
      const lane = this.lanes.get(key)!;
      this.lanes.delete(key);
      this.lanes.set(key, lane);
    }
  }

  /** The batch limits now: the configured ones, halved per batch that took too long (at least one record). */
  private batchLimits(): { batchRecords: number; batchBytes: number } {
    const { batchRecords, batchBytes } = this.options.config;
    return { batchRecords: Math.max(1, Math.floor(batchRecords * this.batchScale)), batchBytes: Math.max(1, Math.floor(batchBytes * this.batchScale)) };
  }

  /**
   * A delivery that failed after more than half the transaction timeout (or the watchdog's limit)
   * was too big for the link: Kafka aborts a transaction open longer than its timeout and bumps
   * the epoch, so the same batch would fail again, forever. The next batches are halved, and a
   * fenced error says that our own timeout caused it, not another producer.
   */
  private slowBatch(delivery: Delivery, ms: number, err: unknown): unknown {
    const { config } = this.options;
    const limit = Math.min(config.transactionTimeout, config.requestTimeout * 4);
    if (ms < limit / 2) return err;
    const before = this.batchLimits().batchRecords;
    this.batchScale = Math.max(1 / 1024, this.batchScale / 2);
    const slow = `the batch of ${delivery.messages.length} records (${delivery.bytes} bytes) took ${Math.round(ms)} ms`;
    this.options.logger.warn({ records: delivery.messages.length, ms: Math.round(ms), batchRecordsBefore: before, batchRecordsNow: this.batchLimits().batchRecords }, 'upstream batch too slow for the link; batches halved');
    const error = upstreamError(err, config.brokers);
    if (config.mode === 'exactly-once' && error instanceof UpstreamFencedError && ms >= config.transactionTimeout) {
      return new UpstreamFencedError(
        `Kafka aborted this gateway's own transaction: ${slow}, longer than upstream.transactionTimeout (${config.transactionTimeout} ms); ` +
          `batches are halved until they fit (now ${this.batchLimits().batchRecords} records): ${error.message}`,
        { cause: err },
      );
    }
    return err;
  }

  private applied(delivery: Delivery): void {
    for (const c of delivery.cursors) {
      const lane = this.lanes.get(partitionKey(c.topic, c.partition));
      if (lane === undefined) continue;
      lane.recordsForwarded += c.nextOffset - (lane.committed ?? c.nextOffset);
      lane.committed = c.nextOffset;
      this.durable.set(lane.key, c.nextOffset);
    }
    this.counters.recordsForwarded += delivery.messages.length;
    this.counters.bytesForwarded += delivery.bytes;
    this.counters.batchesForwarded += 1;
  }

  private skipRetentionGap(lane: Lane, logStartOffset: number): void {
    if (lane.readPosition >= logStartOffset) return;
    // A reconnect before the skip was committed rewinds below the gap again: count each range once.
    const from = Math.max(lane.readPosition, lane.lostCountedUpTo);
    lane.readPosition = logStartOffset;
    if (from >= logStartOffset) return;
    const lost = logStartOffset - from;
    lane.lostCountedUpTo = logStartOffset;
    lane.recordsLostToRetention += lost;
    this.counters.recordsLostToRetention += lost;
    this.options.logger.error(
      { topic: lane.topic, partition: lane.partition, from, to: logStartOffset - 1, records: lost },
      'RECORDS LOST UPSTREAM: retention deleted records that were never forwarded to Kafka (an outage longer than log.retention, or size-based retention under a backlog)',
    );
  }

  private halt(lane: Lane, message: string): void {
    lane.halted = true;
    lane.lastError = new UpstreamCursorConflictError(`${lane.topic}-${lane.partition}: ${message}`);
    this.options.logger.error({ topic: lane.topic, partition: lane.partition }, message);
  }

  private laneStatus(lane: Lane): PartitionStatus {
    const p = this.options.log.partition(lane.topic, lane.partition);
    const lag = lane.committed === null ? p.logEndOffset - p.logStartOffset : Math.max(0, p.logEndOffset - Math.max(lane.committed, p.logStartOffset));
    const state = lane.lastError !== null || lane.halted ? 'error' : this.state !== 'forwarding' ? 'waiting' : lag === 0 ? 'caught-up' : 'forwarding';
    return {
      topic: lane.topic,
      partition: lane.partition,
      upstreamTopic: lane.upstreamTopic,
      forwardedOffset: lane.committed,
      logEndOffset: p.logEndOffset,
      highWatermark: p.highWatermark,
      highWaterMark: p.logEndOffset,
      logStartOffset: p.logStartOffset,
      lag,
      state,
      lastError: lane.lastError === null ? (this.state !== 'forwarding' ? this.lastErrorBrief() : null) : { code: lane.lastError.code, message: lane.lastError.message },
      recordsForwarded: lane.recordsForwarded,
      recordsLostToRetention: lane.recordsLostToRetention,
    };
  }

  private lastErrorBrief(): { code: string; message: string } | null {
    return this.lastError === null ? null : { code: this.lastError.code, message: this.lastError.message };
  }

  /**
   * Fails an operation that takes far longer than the client's own request timeouts and retries
   * allow: a request lost in the client (seen after a broker restart) must not stall forwarding.
   * With a heartbeat, the limit counts from its last beat: a long read that moves on is not stuck.
   */
  private async watchdog<T>(operation: Promise<T>, what: string, alive: Heartbeat = new Heartbeat()): Promise<T> {
    const limit = this.options.config.requestTimeout * 4;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      const check = (): void => {
        const idle = Date.now() - alive.last;
        if (idle >= limit) reject(new UpstreamUnavailableError(`no answer from Kafka within ${limit} ms while ${what}`));
        else timer = setTimeout(check, limit - idle);
      };
      timer = setTimeout(check, limit);
    });
    try {
      return await Promise.race([operation, expired]);
    } finally {
      clearTimeout(timer);
      operation.catch(() => undefined);
    }
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
      if (this.closing) return;
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

/** When an operation last showed progress. */
class Heartbeat {
  last = Date.now();
  beat(): void {
    this.last = Date.now();
  }
}

/** Waits for `operation` at most `ms`. */
async function bounded(operation: Promise<unknown>, ms: number): Promise<void> {
  await Promise.race([operation.then(() => undefined, () => undefined), sleep(ms)]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
