// Starts the forwarder when the config enables it, and adapts its status for the metrics.
import type { CursorStore } from '../../broker/cursors.js';
import type { Log } from '../../broker/log/log.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { UpstreamSource, UpstreamStatus as MetricsStatus } from '../observability/metrics.js';
import { Forwarder, type UpstreamStatus } from './forwarder.js';

export interface Upstream {
  status(): UpstreamStatus;
  /** The offset below which a log partition is durable upstream (null: not forwarded). */
  forwardedBelow(topic: string, partition: number): number | null;
  /** The same status in the shape bridge/observability/metrics.ts reads. */
  readonly metricsSource: UpstreamSource;
  close(): Promise<void>;
}

/**
 * Who forwards: on a single node its `node.id` and its data directory's log id; in a cluster
 * (docs/replication.md, Upstream) the cluster's name and log id, the same on every replica, so that
 * a new leader resumes from the same exactly-once cursors as the same producer and fences the old one.
 */
export interface UpstreamIdentity {
  name: string;
  /** Absent: the data directory's own log id. */
  logId?: string;
  /** In a cluster: whether this node still leads with its lease (see ForwarderOptions.leads). */
  leads?: () => boolean;
}

/** `cursors` (the node's cursor store, closed by its owner) keeps the at-least-once positions. */
export function startUpstream(config: Config, log: Log, cursors: CursorStore, logger: Logger, identity: UpstreamIdentity = { name: config.node.id }): Upstream | null {
  const upstream = config.upstream;
  if (upstream === null || !upstream.enabled) return null;
  const forwarder = Forwarder.start({ config: upstream, node: identity.name, logId: identity.logId, leads: identity.leads, log, cursors, logger });
  logger.info({ brokers: upstream.brokers, mode: upstream.mode, topicTemplate: upstream.topicTemplate, as: identity.name }, 'upstream forwarder started');
  let closing: Promise<void> | null = null;
  return {
    status: () => forwarder.status(),
    forwardedBelow: (topic, partition) => forwarder.forwardedBelow(topic, partition),
    metricsSource: { status: () => forMetrics(forwarder.status()) },
    close: () => {
      closing ??= forwarder.close();
      return closing;
    },
  };
}

function forMetrics(status: UpstreamStatus): MetricsStatus {
  return {
    connected: status.state === 'forwarding',
    partitions: status.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      forwardedOffset: p.forwardedOffset ?? p.logStartOffset,
      highWatermark: p.highWatermark,
      lag: p.lag,
      lastError: p.lastError === null ? null : `${p.lastError.code}: ${p.lastError.message}`,
    })),
    recordsForwarded: status.counters.recordsForwarded,
    bytesForwarded: status.counters.bytesForwarded,
    errors: status.counters.errors,
    lastError: status.lastError === null ? null : `${status.lastError.code}: ${status.lastError.message}`,
    recordsLostToRetention: status.counters.recordsLostToRetention,
  };
}
