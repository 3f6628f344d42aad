// The snapshot GET /api/overview serves: one JSON object of the node for the dashboard, which
// polls it every second and computes rates from the differences of the counters; the chart's last
// two minutes come with it. Built from the same sources as the metrics, so the two never disagree.
// The HTTP server only serves it (bridge/main.ts hands it buildOverview as a function).
import type { DiskBudgetStatus } from '../../broker/log/disk-budget.js';
import type { CorruptBatchObservation, Log, TopicInfo } from '../../broker/log/log.js';
import type { Metrics, UpstreamStatus } from './metrics.js';
import type { RecentError, RecentErrors } from './recent-errors.js';
import type { ThroughputHistory, ThroughputSample } from './throughput-history.js';

export interface Overview {
  node: string;
  /** Epoch ms of this snapshot: rates are differences over differences of this. */
  time: number;
  uptimeSeconds: number;
  ready: boolean;
  process: { rssBytes: number; heapUsedBytes: number };
  mqtt: {
    connections: number;
    publishesReceived: number;
    bytesReceived: number;
    publishesStored: number;
    publishesFastPath: number;
    refused: number;
    connectionsRefused: number;
  };
  log: {
    recordsAppended: number;
    bytesAppended: number;
    topics: TopicInfo[];
    /** Corrupt stored batches reads have met since start (tributary_log_corrupt_batches_total). */
    corruptBatches: number;
    /** The most recent of them, newest first (at most 20): what cannot be read, and why. */
    corrupt: CorruptBatchObservation[];
    /** The data directory's disk use against its budget (log.disk). */
    disk: DiskBudgetStatus;
  };
  /** null while no upstream forwarder runs. */
  upstream: UpstreamStatus | null;
  errors: RecentError[];
  /** The last two minutes, one sample a second, oldest first: the chart of a freshly opened page. */
  throughput: ThroughputSample[];
}

/** What the overview reads of the MQTT front end (MqttFrontEnd has it): its counters since start. */
export interface MqttCounters {
  readonly connectedClients: number;
  readonly stats: {
    publishesReceived: number;
    bytesReceived: number;
    publishesStored: number;
    publishesFastPath: number;
    refused: Record<string, number>;
    connectionsRefused: Record<string, number>;
  };
}

export interface OverviewSources {
  nodeId: string;
  log: Pick<Log, 'topics' | 'corruptBatches' | 'diskStatus'>;
  mqtt: MqttCounters;
  metrics: Metrics;
  errors: RecentErrors;
  throughput: ThroughputHistory;
  isReady: () => boolean;
}

const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

export function buildOverview(sources: OverviewSources): Overview {
  const { stats } = sources.mqtt;
  const memory = process.memoryUsage();
  return {
    node: sources.nodeId,
    time: Date.now(),
    uptimeSeconds: Math.round(process.uptime()),
    ready: sources.isReady(),
    process: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
    mqtt: {
      connections: sources.mqtt.connectedClients,
      publishesReceived: stats.publishesReceived,
      bytesReceived: stats.bytesReceived,
      publishesStored: stats.publishesStored,
      publishesFastPath: stats.publishesFastPath,
      refused: sum(stats.refused),
      connectionsRefused: sum(stats.connectionsRefused),
    },
    log: {
      recordsAppended: sources.metrics.appended.records,
      bytesAppended: sources.metrics.appended.bytes,
      topics: sources.log.topics(),
      corruptBatches: sources.metrics.corrupt.batches,
      corrupt: sources.log.corruptBatches().slice(-20).reverse(),
      disk: sources.log.diskStatus(),
    },
    upstream: sources.metrics.upstream?.status() ?? null,
    errors: sources.errors.list(),
    throughput: sources.throughput.list(),
  };
}
