// Prometheus metrics of one node (prom-client). The components keep plain counters (MqttFrontEnd.stats,
// Log.topics(), the upstream forwarder's status()); this registry reads them when scraped, so
// nothing is counted twice and broker/ needs no metrics library. Only what has no counter of its
// own (append latency, group-commit sizes, retention deletions) is observed through the log's
// observer hooks. Names follow Prometheus conventions: `_total` counters, base units (seconds, bytes).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DiskBudgetStatus } from '../../broker/log/disk-budget.js';
import type { Log, LogObserver, PartitionInfo } from '../../broker/log/log.js';
import type { MqttFrontEnd } from '../mqtt/front-end.js';

/** One partition as the upstream forwarder sees it. */
export interface UpstreamPartitionStatus {
  topic: string;
  partition: number;
  /** The next offset to forward: everything below it is in Kafka. */
  forwardedOffset: number;
  /** The local partition's high watermark: records below it are committed (on a single node, its log end offset). */
  highWatermark: number;
  /** Records stored but not yet forwarded (log end offset - forwardedOffset). */
  lag: number;
  /** The last error forwarding this partition met, if it has not succeeded since. */
  lastError: string | null;
}

/** What the upstream forwarder reports; bridge/upstream adapts its own status to this shape. */
export interface UpstreamStatus {
  /** Connected to Kafka and forwarding. */
  connected: boolean;
  partitions: UpstreamPartitionStatus[];
  /** Since start. */
  recordsForwarded: number;
  bytesForwarded: number;
  errors: number;
  /** Records retention deleted before they were forwarded (an outage longer than retention). */
  recordsLostToRetention?: number;
  /** The forwarder's last error that is not about one partition (Kafka unreachable, say). */
  lastError?: string | null;
}

export interface UpstreamSource {
  status(): UpstreamStatus;
}

/** What the metrics read of the Kafka endpoint (KafkaServer has it). */
export interface KafkaSource {
  readonly stats: { connections: number; refused: number };
  groupStats(): Array<{ groupId: string; members: number; lag: Array<{ topic: string; partition: number; records: number }> }>;
  readonly traffic: {
    readonly requests: ReadonlyMap<string, number>;
    readonly failures: ReadonlyMap<string, number>;
    readonly bytesReceived: number;
    readonly bytesSent: number;
    readonly pipelinedRequests?: number;
  };
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const COMMIT_BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
const COMMIT_BYTE_BUCKETS = [1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304];

/** Reasons become label values; quoted parts (topic names) are cut so that the set stays small. */
const reasonLabel = (reason: string): string => reason.replace(/'[^']*'/g, "'…'");

/** A counter whose value is read from a component's own count when scraped; undefined = not running. */
function counterFrom(registers: Registry[], name: string, help: string, read: () => number | undefined): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      const value = read();
      if (value !== undefined) this.inc(value);
    },
  });
}

/** A gauge per topic and partition, rebuilt at each scrape so that partitions gone are gone. */
function partitionGauge(registers: Registry[], name: string, help: string, rows: () => Iterable<{ topic: string; partition: number; value: number }>): void {
  new Gauge({
    name,
    help,
    labelNames: ['topic', 'partition'],
    registers,
    collect() {
      this.reset();
      for (const row of rows()) this.set({ topic: row.topic, partition: String(row.partition) }, row.value);
    },
  });
}

export class Metrics {
  readonly registry = new Registry();
  /** Pass to Log.open({ observer }). */
  readonly logObserver: LogObserver;
  #log: Log | null = null;
  #mqtt: MqttFrontEnd | null = null;
  #upstream: UpstreamSource | null = null;
  #kafka: KafkaSource | null = null;
  #cluster: ClusterSource | null = null;
  #forwarding: ForwardingSource | null = null;
  /** Appended since start, by the log's observer (the dashboard's throughput). */
  readonly appended = { batches: 0, records: 0, bytes: 0 };
  readonly retentionDeleted = { batches: 0, records: 0, bytes: 0 };
  /** Corrupt stored batches reads have met (each once per process), by the log's observer. */
  readonly corrupt = { batches: 0 };

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    const appendSeconds = new Histogram({ name: 'tributary_log_append_duration_seconds', help: 'Time from an append to its durability (one batch)', buckets: LATENCY_BUCKETS, registers });
    const commitBatches = new Histogram({ name: 'tributary_log_group_commit_batches', help: 'Batches committed together under one transaction (and fsync)', buckets: COMMIT_BATCH_BUCKETS, registers });
    const commitBytes = new Histogram({ name: 'tributary_log_group_commit_bytes', help: 'Bytes committed together under one transaction (and fsync)', buckets: COMMIT_BYTE_BUCKETS, registers });
    this.logObserver = {
      appended: (append) => {
        this.appended.batches++;
        this.appended.records += append.records;
        this.appended.bytes += append.bytes;
        appendSeconds.observe(append.seconds);
      },
      committed: (commit) => {
        commitBatches.observe(commit.batches);
        commitBytes.observe(commit.bytes);
      },
      retentionRan: (result) => {
        this.retentionDeleted.batches += result.batchesDeleted;
        this.retentionDeleted.records += result.recordsDeleted;
        this.retentionDeleted.bytes += result.bytesDeleted;
      },
      corruptBatch: () => {
        this.corrupt.batches++;
      },
    };

    this.registerLog(registers);
    this.registerMqtt(registers);
    this.registerKafka(registers);
    this.registerUpstream(registers);
    this.registerCluster(registers);
  }

  /** Replication's status (bridge/cluster/cluster-node.ts), read at scrape time. */
  watchCluster(cluster: ClusterSource): void {
    this.#cluster = cluster;
  }

  /** A follower's forwarding of MQTT publishes to the leader (cluster.followers: forward). */
  watchForwarding(forwarding: ForwardingSource): void {
    this.#forwarding = forwarding;
  }

  watchLog(log: Log): void {
    this.#log = log;
  }

  watchMqtt(mqtt: MqttFrontEnd): void {
    this.#mqtt = mqtt;
  }

  watchKafka(kafka: KafkaSource): void {
    this.#kafka = kafka;
  }

  watchUpstream(upstream: UpstreamSource): void {
    this.#upstream = upstream;
  }

  get upstream(): UpstreamSource | null {
    return this.#upstream;
  }

  /** The exposition text and its content type, for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private registerLog(registers: Registry[]): void {
    const metrics = this;
    const counter = (name: string, help: string, read: () => number): void => counterFrom(registers, name, help, read);
    counter('tributary_log_appended_batches_total', 'Record batches appended to the log', () => this.appended.batches);
    counter('tributary_log_appended_records_total', 'Records appended to the log', () => this.appended.records);
    counter('tributary_log_appended_bytes_total', 'Encoded bytes appended to the log', () => this.appended.bytes);
    counter('tributary_log_retention_deleted_batches_total', 'Batches deleted by retention', () => this.retentionDeleted.batches);
    counter('tributary_log_retention_deleted_records_total', 'Records deleted by retention', () => this.retentionDeleted.records);
    counter('tributary_log_retention_deleted_bytes_total', 'Bytes deleted by retention', () => this.retentionDeleted.bytes);
    counter('tributary_log_corrupt_batches_total', 'Corrupt stored batches reads have met (CRC, offsets or a damaged page); never served', () => this.corrupt.batches);
    const perPartition = (name: string, help: string, read: (p: PartitionInfo) => number): void =>
      partitionGauge(registers, name, help, () =>
        (metrics.#log?.topics() ?? []).flatMap((topic) => topic.partitions.map((p) => ({ topic: topic.name, partition: p.partition, value: read(p) }))),
      );
    perPartition('tributary_log_partition_bytes', 'Bytes a partition holds on disk (its batches)', (p) => p.bytes);
    perPartition('tributary_log_partition_start_offset', 'Oldest offset a partition still holds', (p) => p.logStartOffset);
    perPartition('tributary_log_partition_end_offset', 'Offset the next record of a partition gets', (p) => p.logEndOffset);
    new Gauge({ name: 'tributary_log_open', help: '1 while the log is open and its writer thread alive', registers, collect() { this.set(metrics.#log?.isOpen === true ? 1 : 0); } });
    // The disk budget (docs/disk.md); -1 for a limit that is not set.
    const disk = (name: string, help: string, read: (d: DiskBudgetStatus) => number | null): void => {
      new Gauge({ name, help, registers, collect() {
        const status = metrics.#log?.diskStatus();
        if (status !== undefined) this.set(read(status) ?? -1);
      } });
    };
    disk('tributary_disk_used_bytes', 'Bytes the data directory takes on disk (all its files)', (d) => d.usedBytes);
    disk('tributary_disk_free_bytes', 'Free bytes on the data directory\'s file system', (d) => d.freeBytes);
    disk('tributary_disk_budget_bytes', 'log.disk.maxBytes (-1: not set)', (d) => d.maxBytes);
    disk('tributary_disk_min_free_bytes', 'log.disk.minFreeBytes (-1: not set)', (d) => d.minFreeBytes);
    disk('tributary_disk_budget_holding', '1 while appends are held because the disk budget is reached and nothing more may be deleted', (d) => (d.holding ? 1 : 0));
    counterFrom(registers, 'tributary_disk_budget_deleted_bytes_total', 'Batch bytes the disk budget deleted early (forwarded upstream, before retention would have)', () => metrics.#log?.diskStatus().reclaimedBytes);
  }

  private registerKafka(registers: Registry[]): void {
    const metrics = this;
    const byLabel = (name: string, help: string, label: string, read: (k: KafkaSource) => ReadonlyMap<string, number>): void => {
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          const kafka = metrics.#kafka;
          if (kafka !== null) for (const [value, count] of read(kafka)) this.inc({ [label]: value }, count);
        },
      });
    };
    byLabel('tributary_kafka_requests_total', 'Kafka requests received, by API', 'api', (k) => k.traffic.requests);
    byLabel('tributary_kafka_request_failures_total', 'Kafka requests not served, by cause: an API or version not served (answered), or one that closed its connection (malformed, unauthenticated, failed)', 'cause', (k) => k.traffic.failures);
    counterFrom(registers, 'tributary_kafka_received_bytes_total', 'Bytes of Kafka requests received', () => metrics.#kafka?.traffic.bytesReceived);
    counterFrom(registers, 'tributary_kafka_sent_bytes_total', 'Bytes of Kafka responses sent', () => metrics.#kafka?.traffic.bytesSent);
    counterFrom(registers, 'tributary_kafka_requests_pipelined_total', 'Kafka Produce requests started while an earlier request of their connection was not answered yet', () => metrics.#kafka?.traffic.pipelinedRequests);
    new Gauge({ name: 'tributary_kafka_connections', help: 'Kafka clients connected now', registers, collect() { this.set(metrics.#kafka?.stats.connections ?? 0); } });
    counterFrom(registers, 'tributary_kafka_connections_refused_total', 'Kafka connections refused at kafka.maxConnections', () => metrics.#kafka?.stats.refused);
    new Gauge({
      name: 'tributary_kafka_group_members',
      help: 'Members of each Kafka consumer group now (0 for a group known only by its committed offsets)',
      labelNames: ['group'],
      registers,
      collect() {
        this.reset();
        for (const g of metrics.#kafka?.groupStats() ?? []) this.set({ group: g.groupId }, g.members);
      },
    });
    new Gauge({
      name: 'tributary_kafka_group_lag_records',
      help: "Records committed to the log that a Kafka consumer group has not committed past, per partition it committed",
      labelNames: ['group', 'topic', 'partition'],
      registers,
      collect() {
        this.reset();
        for (const g of metrics.#kafka?.groupStats() ?? []) for (const l of g.lag) this.set({ group: g.groupId, topic: l.topic, partition: String(l.partition) }, l.records);
      },
    });
  }

  private registerMqtt(registers: Registry[]): void {
    const metrics = this;
    const stats = (): MqttFrontEnd['stats'] | undefined => metrics.#mqtt?.stats;
    new Gauge({ name: 'tributary_mqtt_connections', help: 'MQTT clients connected now', registers, collect() { this.set(metrics.#mqtt?.connectedClients ?? 0); } });
    new Gauge({ name: 'tributary_mqtt_connections_waiting_for_connect', help: 'Connections accepted whose CONNECT has not arrived yet', registers, collect() { this.set(metrics.#mqtt?.waitingForConnect ?? 0); } });
    const counter = (name: string, help: string, read: (s: MqttFrontEnd['stats']) => number): void =>
      counterFrom(registers, name, help, () => {
        const s = stats();
        return s === undefined ? undefined : read(s);
      });
    const byReason = (name: string, help: string, read: (s: MqttFrontEnd['stats']) => Record<string, number>): void => {
      new Counter({
        name,
        help,
        labelNames: ['reason'],
        registers,
        collect() {
          this.reset();
          const s = stats();
          if (s === undefined) return;
          for (const [reason, count] of Object.entries(read(s))) this.inc({ reason: reasonLabel(reason) }, count);
        },
      });
    };
    counter('tributary_mqtt_publishes_received_total', 'PUBLISH packets received (and wills)', (s) => s.publishesReceived);
    counter('tributary_mqtt_publishes_fast_path_total', 'Of the publishes received, those the ingest fast path took (QoS 0/1 with no subscriber: see docs/mqtt.md)', (s) => s.publishesFastPath);
    counter('tributary_mqtt_received_bytes_total', 'Payload bytes of the publishes received', (s) => s.bytesReceived);
    new Counter({
      name: 'tributary_mqtt_publishes_acknowledged_total',
      help: 'Publishes accepted (acknowledged for QoS 1 and 2), by outcome: stored in the log, a QoS 2 duplicate already stored, or dropped because no mapping rule matched',
      labelNames: ['outcome'],
      registers,
      collect() {
        this.reset();
        const s = stats();
        if (s === undefined) return;
        this.inc({ outcome: 'stored' }, s.publishesStored);
        this.inc({ outcome: 'duplicate' }, s.duplicatesSkipped);
        this.inc({ outcome: 'unmatched_dropped' }, s.unmatchedDropped);
      },
    });
    byReason('tributary_mqtt_publishes_refused_total', 'Publishes refused (the client is disconnected), by reason', (s) => s.refused);
    byReason('tributary_mqtt_connections_refused_total', 'Connections refused, by reason', (s) => s.connectionsRefused);
    counter('tributary_mqtt_client_errors_total', 'Connections ended by a client or protocol error', (s) => s.clientErrors);
    counter('tributary_mqtt_append_retries_total', 'Appends retried after a passing storage failure (a full disk)', (s) => s.appendRetries);
    counter('tributary_mqtt_deliveries_withheld_total', 'Messages not delivered to a subscriber because its ACL does not (or no longer) grant the topic', (s) => s.deliveriesWithheld);
    byReason('tributary_mqtt_queued_dropped_total', "Messages not queued for an offline persistent session because its queue was full, by the bound reached (messages, bytes: mqtt.sessions)", (s) => s.queuedDropped);
    counter('tributary_mqtt_sessions_expired_total', 'Persistent sessions removed with their queues after mqtt.sessions.expiry offline', (s) => s.sessionsExpired);
    new Gauge({ name: 'tributary_mqtt_queued_messages', help: 'Messages queued for persistent sessions now (in flight included)', registers, collect() { this.set(metrics.#mqtt?.queuedMessages ?? 0); } });
  }

  private registerUpstream(registers: Registry[]): void {
    const metrics = this;
    const status = (): UpstreamStatus | undefined => metrics.#upstream?.status();
    const perPartition = (name: string, help: string, read: (p: UpstreamPartitionStatus) => number): void =>
      partitionGauge(registers, name, help, () => (status()?.partitions ?? []).map((p) => ({ topic: p.topic, partition: p.partition, value: read(p) })));
    perPartition('tributary_upstream_lag_records', 'Records of a partition not yet forwarded to Kafka', (p) => p.lag);
    perPartition('tributary_upstream_forwarded_offset', 'Next offset of a partition to forward: everything below is in Kafka', (p) => p.forwardedOffset);
    perPartition('tributary_upstream_partition_failing', '1 while forwarding a partition fails (its last error stands)', (p) => (p.lastError === null ? 0 : 1));
    const counter = (name: string, help: string, read: (s: UpstreamStatus) => number): void =>
      counterFrom(registers, name, help, () => {
        const s = status();
        return s === undefined ? undefined : read(s);
      });
    counter('tributary_upstream_forwarded_records_total', 'Records forwarded to Kafka', (s) => s.recordsForwarded);
    counter('tributary_upstream_forwarded_bytes_total', 'Bytes forwarded to Kafka', (s) => s.bytesForwarded);
    counter('tributary_upstream_errors_total', 'Errors forwarding to Kafka (each failed attempt)', (s) => s.errors);
    counter('tributary_upstream_lost_to_retention_records_total', 'Records deleted by retention before they were forwarded to Kafka', (s) => s.recordsLostToRetention ?? 0);
    new Gauge({ name: 'tributary_upstream_connected', help: '1 while connected to Kafka; 0 while not, or while upstream is off', registers, collect() {
      this.reset();
      const s = status();
      if (s !== undefined) this.set(s.connected ? 1 : 0);
    } });
  }

  private registerCluster(registers: Registry[]): void {
    const metrics = this;
    const status = (): ClusterSourceStatus | undefined => metrics.#cluster?.status();
    const gauge = (name: string, help: string, read: (s: ClusterSourceStatus) => number): void => {
      new Gauge({ name, help, registers, collect() {
        this.reset();
        const s = status();
        if (s !== undefined) this.set(read(s));
      } });
    };
    new Gauge({ name: 'tributary_cluster_role', help: '1 for this node\'s replication role (leader, follower, candidate); absent without a cluster block', labelNames: ['role'], registers, collect() {
      this.reset();
      const s = status();
      if (s !== undefined) for (const role of ['leader', 'follower', 'candidate']) this.set({ role }, s.role === role ? 1 : 0);
    } });
    counterFrom(registers, 'tributary_cluster_forwarded_records_total', 'On a follower with cluster.followers: forward: MQTT publishes handed to the leader and acknowledged as committed', () => metrics.#forwarding?.forwarded);
    counterFrom(registers, 'tributary_cluster_forward_failures_total', 'On a follower with cluster.followers: forward: hand-overs to the leader that got no committed answer (TRIB_CLUSTER_FORWARD_FAILED: their publishers\' connections closed, the devices send again)', () => metrics.#forwarding?.failures);
    gauge('tributary_cluster_epoch', 'The replication epoch this node is in', (s) => s.epoch);
    gauge('tributary_cluster_commit_position', 'The replication-log position committed (held by a quorum) as this node knows it', (s) => s.commitSeq);
    gauge('tributary_cluster_last_position', 'The position of the last entry in this node\'s log', (s) => s.last.seq);
    counterFrom(registers, 'tributary_cluster_elections_total', 'Elections this node stood in (it became a candidate)', () => status()?.elections);
    counterFrom(registers, 'tributary_cluster_truncations_total', 'Times this node truncated a tail that diverged from its leader\'s log', () => status()?.truncations);
    gauge('tributary_cluster_under_replicated_partitions', 'On the leader: partitions holding entries a data follower out of the in-sync set lacks (Kafka\'s UnderReplicatedPartitions); 0 elsewhere', (s) => s.underReplicatedPartitions);
    gauge('tributary_cluster_follower_disk_full', '1 while this follower cannot store what it fetches (its disk is full or over its disk budget: TRIB_CLUSTER_FOLLOWER_DISK_FULL); it falls behind', (s) => (s.diskFull === null ? 0 : 1));
    new Gauge({ name: 'tributary_cluster_follower_lag_entries', help: 'On the leader: entries a follower lacks (-1 before it fetched)', labelNames: ['follower'], registers, collect() {
      this.reset();
      for (const f of status()?.followers ?? []) this.set({ follower: f.id }, f.lag ?? -1);
    } });
    new Gauge({ name: 'tributary_cluster_peer_refusing', help: '1 for each peer whose replication connection and this node refuse each other (TLS or authentication: TRIB_CLUSTER_PEER_REFUSED), as this node last tried', labelNames: ['peer'], registers, collect() {
      this.reset();
      for (const p of status()?.refusingPeers ?? []) this.set({ peer: p.id }, 1);
    } });
    // With a witness under acks: quorum, a commit may rest on the leader's disk alone (docs/replication.md, The witness).
    gauge('tributary_cluster_under_replicated_followers', 'On the leader: data followers (not witnesses) that lack committed entries; a fetch behind counts, so alert on it staying above 0', (s) =>
      s.role !== 'leader' ? 0 : s.followers.filter((f) => f.witness !== true && (f.seq === undefined || f.seq === null || f.seq < s.commitSeq)).length,
    );
  }
}

/** What the metrics read of replication (structurally bridge/cluster/cluster-node.ts's ClusterNode). */
export interface ForwardingSource {
  readonly forwarded: number;
  readonly failures: number;
}

export interface ClusterSource {
  status(): ClusterSourceStatus;
}

export interface ClusterSourceStatus {
  role: string;
  epoch: number;
  commitSeq: number;
  last: { seq: number };
  elections: number;
  truncations: number;
  followers: ReadonlyArray<{ id: string; lag: number | null; seq?: number | null; witness?: boolean }>;
  underReplicatedPartitions: number;
  diskFull: { code: string } | null;
  refusingPeers?: ReadonlyArray<{ id: string }>;
}
