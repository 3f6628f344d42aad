// What the forwarder shows of itself (GET /api/upstream, the metrics, the dashboard): the shapes,
// and the function that builds them from the lanes and the log. It only reads: a status call must
// never change what it reports on (it used to add lanes for new partitions).
import type { Log } from '../../broker/log/log.js';
import type { UpstreamConfig } from './kafka-options.js';
import type { Lane } from './lane.js';

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

export function newCounters(): UpstreamCounters {
  return { recordsForwarded: 0, bytesForwarded: 0, batchesForwarded: 0, errors: 0, connects: 0, recordsLostToRetention: 0 };
}

/** What the status is read from: the forwarder's own fields, its lanes and the log. */
export interface StatusSource {
  config: Pick<UpstreamConfig, 'mode' | 'brokers'>;
  state: ForwarderState;
  lastError: UpstreamStatus['lastError'];
  connectNote: string | null;
  counters: UpstreamCounters;
  lanes: Iterable<Lane>;
  log: Log;
}

export function upstreamStatus(source: StatusSource): UpstreamStatus {
  const partitions = [...source.lanes].map((lane) => partitionStatus(source, lane));
  return {
    enabled: true,
    mode: source.config.mode,
    state: source.state,
    brokers: [...source.config.brokers],
    lastError: source.lastError,
    connecting: source.state === 'connecting' ? source.connectNote : null,
    totalLag: partitions.reduce((sum, p) => sum + p.lag, 0),
    counters: { ...source.counters },
    partitions,
  };
}

function partitionStatus(source: StatusSource, lane: Lane): PartitionStatus {
  const p = source.log.partition(lane.topic, lane.partition);
  const forwarding = source.state === 'forwarding';
  const lag = lane.committed === null ? p.logEndOffset - p.logStartOffset : Math.max(0, p.logEndOffset - Math.max(lane.committed, p.logStartOffset));
  const state = lane.lastError !== null || lane.halted ? 'error' : !forwarding ? 'waiting' : lag === 0 ? 'caught-up' : 'forwarding';
  // A lane without its own error shows the forwarder's while it is not forwarding.
  const overall = forwarding || source.lastError === null ? null : { code: source.lastError.code, message: source.lastError.message };
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
    lastError: lane.lastError === null ? overall : { code: lane.lastError.code, message: lane.lastError.message },
    recordsForwarded: lane.recordsForwarded,
    recordsLostToRetention: lane.recordsLostToRetention,
  };
}
