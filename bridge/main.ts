// The composition root: config -> logger -> log -> retention -> MQTT front end -> upstream
// forwarder -> HTTP. Shutdown runs in reverse (MQTT stops taking publishes before the log closes);
// each close() is idempotent.
import { CursorStore } from '../broker/cursors.js';
import { Log, replicatedCommit, type RetentionSpec } from '../broker/log/log.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { FollowerForward, leaderAppends } from './cluster/follower-forward.js';
import { replicatePositions } from './cluster/replicated-positions.js';
import { replicateRetained, retainedWriter } from './cluster/replicated-retained.js';
import { replicateSessions, sessionWriter } from './cluster/replicated-sessions.js';
import { ReplicatedState } from './cluster/replicated-state.js';
import { kafkaClusterView } from './kafka-cluster.js';
import { loadMutualTlsFiles } from './net/tls-files.js';
import { RetentionScheduler } from '../broker/retention.js';
import type { Config } from './config/schema.js';
import { buildOverview } from './observability/overview.js';
import { HttpServer } from './http/server.js';
import { kafkaSecurity } from './kafka/security.js';
import type { KafkaServer } from './kafka/server.js';
import type { Logger } from './logger.js';
import { Metrics } from './observability/metrics.js';
import { MqttFrontEnd } from './mqtt/front-end.js';
import { LogRecordsReader } from './replay/records-reader.js';
import { RecentErrors, watchUpstreamErrors } from './observability/recent-errors.js';
import { ThroughputHistory } from './observability/throughput-history.js';
import type { Upstream } from './upstream/start.js';

export interface Node {
  readonly log: Log;
  readonly mqtt: MqttFrontEnd;
  readonly http: HttpServer;
  /** The metrics registry: components that start later (the upstream forwarder) register here. */
  readonly metrics: Metrics;
  /** The dashboard's recent errors; components report into it. */
  readonly errors: RecentErrors;
  /** The Kafka forwarder; null while upstream is off. */
  readonly upstream: Upstream | null;
  /** The Kafka endpoint (Kafka clients read the log); null while kafka.enabled is off. */
  readonly kafka: KafkaServer | null;
  /** Replication (docs/replication.md); null without a cluster block. */
  readonly cluster: ClusterNode | null;
  close(): Promise<void>;
}

/** How many kinds of state a cluster node replicates beside the records (replicated-state.ts): positions, retained messages, sessions' subscriptions. */
const REPLICATED_KINDS = 3;

export async function startNode(config: Config, logger: Logger): Promise<Node> {
  const stops: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err }, 'error during shutdown');
      }
    }
  };
  let ready = false;
  const metrics = new Metrics();
  const errors = new RecentErrors();
  try {
    const defaultRetention: RetentionSpec = { maxAgeMs: config.log.retention.maxAge, maxBytes: config.log.retention.maxBytes };
    // The disk budget may delete early only what the forwarder has sent upstream (started below,
    // after the log: until then nothing counts as sent).
    let upstream: Upstream | null = null;
    const forwarding = config.upstream?.enabled === true;
    // Loaded now, before replication starts, not when this node first leads: evaluating the Kafka
    // client blocks the event loop (about 1 s here, several under load), and a new leader that
    // stalls for its election timeout loses its lease and is deposed before it has served anything.
    const upstreamModule = forwarding ? await import('./upstream/start.js') : null;
    // Replication: a record is committed (readers see it, its publisher is acknowledged) once a
    // quorum holds it, not when it is durable here (docs/replication.md).
    let cluster: ClusterNode | null = null;
    let clusterTls: ReturnType<typeof loadMutualTlsFiles> | null = null;
    let replicated: ReplicatedState | null = null;
    const log = await Log.open({
      ...(config.cluster === null ? {} : { commitPolicy: replicatedCommit, acknowledge: 'committed' as const, committedOnOpen: false, stageBeforeSync: true, keysInBatches: true }),
      dataDir: config.dataDir,
      durability: config.log.durability,
      fsyncIntervalMs: config.log.fsyncInterval,
      commitDelayMs: config.log.commitDelay,
      defaultRetention,
      topics: config.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions,
        retention: {
          maxAgeMs: t.retention?.maxAge !== undefined ? t.retention.maxAge : defaultRetention.maxAgeMs,
          maxBytes: t.retention?.maxBytes !== undefined ? t.retention.maxBytes : defaultRetention.maxBytes,
        },
      })),
      diskBudget: config.log.disk,
      forwardedBelow: forwarding ? (topic, partition) => (upstream === null ? 0 : upstream.forwardedBelow(topic, partition)) : undefined,
      logger: logger.child({ component: 'log' }),
      observer: {
        ...metrics.logObserver,
        appended: (append) => {
          metrics.logObserver.appended?.(append);
          cluster?.appended();
        },
        corruptBatch: (batch) => {
          metrics.logObserver.corruptBatch?.(batch);
          errors.add('log', 'corrupt batch, never served (TRIB_LOG_CORRUPT_BATCH)', `${batch.topic}-${batch.partition} offsets ${batch.fromOffset}..${batch.toOffset}: ${batch.reason}`);
        },
      },
    });
    stops.push(() => log.close());
    metrics.watchLog(log);
    logger.info({ dataDir: log.dataDir, durability: config.log.durability, topics: log.topics().length }, 'log open');

    if (config.cluster !== null) {
      const c = config.cluster;
      // cluster.tls's files read and checked here (a missing file or a key that does not match stops the start).
      const tls = c.tls === null ? null : loadMutualTlsFiles(c.tls);
      clusterTls = tls;
      cluster = await ClusterNode.start({ ...c, tls, peers: c.peers, log, dataDir: log.dataDir, logger: logger.child({ component: 'cluster' }) });
      stops.push(() => cluster!.close());
      metrics.watchCluster(cluster);
      // What lives beside the records replicates through the log too (docs/replication.md,
      // invariant 5); records fetched before a kind's part started wait for it.
      replicated = new ReplicatedState(log, cluster, logger.child({ component: 'cluster-state' }), REPLICATED_KINDS);
      logger.info({ nodeId: c.nodeId, address: `${c.listen.host}:${cluster.port}`, peers: c.peers.map((p) => p.id), acks: c.acks }, 'replication listening');
    }

    // cluster.followers: forward: a follower takes publishes and hands them to the leader
    // (follower-forward.ts); every node takes forwards while it leads.
    let forward: FollowerForward | null = null;
    if (cluster !== null && config.cluster !== null) {
      cluster.takeForwards(leaderAppends(log));
      if (config.cluster.followers === 'forward') {
        const c = config.cluster;
        forward = new FollowerForward({ nodeId: c.nodeId, log, node: cluster, peers: c.peers.filter((p) => p.witness !== true), tls: clusterTls, maxBytes: c.fetchMaxBytes / 2, timeoutMs: c.electionTimeoutMs * 4, logger: logger.child({ component: 'cluster-forward' }) });
        const stopForward = forward;
        stops.push(async () => stopForward.close());
        metrics.watchForwarding(forward);
      }
    }

    const retention = new RetentionScheduler(log, config.log.retentionSchedule, logger.child({ component: 'retention' }), (err) =>
      errors.add('retention', 'retention pass failed', err.message),
    );
    stops.push(() => retention.stop());

    const mqtt = await MqttFrontEnd.start({
      config: config.mqtt,
      dataDir: log.dataDir,
      nodeId: config.node.id,
      log,
      logger: logger.child({ component: 'mqtt' }),
      onProblem: (summary, detail) => errors.add('mqtt', summary, detail),
      connectGate: cluster === null ? undefined : (client) => connectGate(cluster!, forward !== null, client.clean),
      forwarding: forward === null ? undefined : () => (cluster!.role === 'leader' ? null : 'a follower forwards publishes to the cluster leader: no subscriptions, retained messages or QoS 2 here (those at the leader)'),
      appends: forward ?? undefined,
      // MQTT 5.0 redirect: to the leader this node hears from; none while it hears from none.
      redirect: cluster === null ? undefined : () => config.cluster?.peers.find((peer) => peer.id === cluster!.liveLeaderId)?.mqtt ?? null,
      onRetainedChanged: replicated === null ? undefined : retainedWriter(replicated),
      onSubscriptionsChanged: replicated === null ? undefined : sessionWriter(replicated),
    });
    stops.push(() => mqtt.close());
    if (replicated !== null) {
      replicateRetained(replicated, mqtt.retainedStore);
      replicateSessions(replicated, mqtt.subscriptionStore);
    }
    // A leader that steps down closes its MQTT clients: they reconnect to the new leader.
    const unwatchRole = cluster?.onRoleChange((role) => {
      if (role !== 'leader') mqtt.closeClients();
    });
    stops.push(async () => unwatchRole?.());
    metrics.watchMqtt(mqtt);
    const throughput = new ThroughputHistory(() => mqtt.stats);
    throughput.start();
    stops.push(async () => throughput.stop());
    const { tcp, tls, websocket } = mqtt.ports;
    logger.info(
      { tcp: `mqtt://${config.mqtt.host}:${tcp}`, tls: tls === null ? 'off' : `mqtts://${config.mqtt.host}:${tls}`, websocket: websocket === null ? 'off' : `ws://${config.mqtt.host}:${websocket}${config.mqtt.websocket.path}` },
      'MQTT listening',
    );

    // Named replay readers' positions (docs/replay.md), the at-least-once forwarder's cursors and
    // the Kafka consumer groups' committed offsets.
    const cursors = CursorStore.open(log.dataDir);
    stops.push(async () => cursors.close());
    if (replicated !== null) {
      const state = replicated;
      const unwatchPositions = replicatePositions(state, cursors);
      stops.push(async () => {
        unwatchPositions();
        state.close();
      });
    }

    // The Kafka endpoint reads and appends to the log, and keeps consumer groups' offsets in the
    // cursor store; it stops before both close (stops run in reverse).
    // Loaded only when enabled: the endpoint's modules bring the codecs Kafka clients may compress
    // with (snappy and lz4 are native add-ons, zstd a decoder in JavaScript), memory a node that
    // serves no Kafka client has no use for (docs/performance.md, Memory).
    const kafka = config.kafka.enabled
      ? await (await import('./kafka/server.js')).KafkaServer.start({
          host: config.kafka.host,
          port: config.kafka.port,
          advertisedHost: config.kafka.advertisedHost,
          advertisedPort: config.kafka.advertisedPort,
          maxRequestSize: config.kafka.maxRequestSize,
          maxConnections: config.kafka.maxConnections,
          tls: config.kafka.tls,
          security: kafkaSecurity(config, logger.child({ component: 'kafka' })),
          maxMessageBytes: config.kafka.maxMessageBytes,
          maxUncompressedBytes: config.kafka.maxUncompressedBytes,
          // Every node of a cluster reports the same cluster id, and the cluster's leader (kafka-cluster.ts).
          clusterId: config.cluster?.name ?? config.node.id,
          ...(cluster === null || config.cluster === null ? {} : { cluster: kafkaClusterView(config.cluster, cluster) }),
          log,
          cursors,
          logger: logger.child({ component: 'kafka' }),
        })
      : null;
    if (kafka !== null) {
      stops.push(() => kafka.close());
      metrics.watchKafka(kafka);
      const security = config.kafka.tls === null ? 'plaintext' : 'TLS';
      logger.info({ address: `${config.kafka.host}:${kafka.port}`, security, acl: config.kafka.acl !== null }, 'Kafka listening');
    }

    // The Kafka client is loaded only when upstream is on: it is a third of an idle node's memory.
    // With replication only the leader forwards (docs/replication.md): the forwarder starts when
    // this node starts leading and stops when it stops.
    let unwatchUpstream: (() => void) | null = null;
    const startForwarding = async (): Promise<void> => {
      if (upstream !== null) return;
      // In a cluster every replica forwards as the cluster (its name and log id), so that a new
      // leader takes over the old one's producer and cursors (docs/replication.md, Upstream).
      const node = cluster;
      const identity =
        node === null || config.cluster === null
          ? { name: config.node.id }
          : { name: config.cluster.name!, logId: node.logId ?? undefined, leads: () => node.leadsWithLease() };
      upstream = upstreamModule!.startUpstream(config, log, cursors, logger.child({ component: 'upstream' }), identity);
      if (upstream === null) return;
      metrics.watchUpstream(upstream.metricsSource);
      unwatchUpstream = watchUpstreamErrors(upstream.metricsSource, errors);
    };
    const stopForwarding = async (): Promise<void> => {
      const running = upstream;
      upstream = null;
      unwatchUpstream?.();
      unwatchUpstream = null;
      await running?.close();
    };
    if (forwarding) {
      stops.push(stopForwarding);
      if (cluster === null) {
        await startForwarding();
      } else {
        const node = cluster;
        let turn: Promise<void> = node.role === 'leader' ? startForwarding() : Promise.resolve();
        const unwatch = node.onRoleChange((role) => {
          turn = turn
            .then(() => (role === 'leader' ? startForwarding() : stopForwarding()))
            .catch((err: unknown) => logger.error({ err }, 'the upstream forwarder could not start or stop with the cluster role'));
        });
        stops.push(async () => {
          unwatch();
          await turn;
        });
      }
    }

    // Ready: the log is open with its writer alive and every listener is up (they are, once here).
    const isReady = (): boolean => ready && log.isOpen;
    const http = await HttpServer.start({
      host: config.http.host,
      port: config.http.port,
      logger: logger.child({ component: 'http' }),
      status: {
        isReady,
        topics: () => log.topics(),
        overview: () => buildOverview({ nodeId: config.node.id, log, mqtt, metrics, errors, throughput, isReady }),
        upstream: () => upstream?.status() ?? null,
        cluster: () => cluster?.status() ?? null,
      },
      records: new LogRecordsReader(log, cursors),
      token: config.http.token,
      allowedHosts: config.http.allowedHosts,
      metrics,
    });
    stops.push(() => http.close());
    logger.info({ url: `http://${config.http.host}:${http.port}` }, 'HTTP API listening');

    ready = true;
    let closing: Promise<void> | null = null;
    return {
      log,
      mqtt,
      http,
      metrics,
      errors,
      get upstream() {
        return upstream;
      },
      kafka,
      cluster,
      close: () => {
        ready = false;
        closing ??= closeAll();
        return closing;
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * Why this node refuses an MQTT connection now, or null. The leader takes every client. A follower
 * refuses all (CONNACK 3, or MQTT 5.0's 0x9C with the leader's address), except with
 * cluster.followers: forward a clean-session client while it hears from a leader: its publishes go
 * there. A persistent session lives on the leader (its subscriptions and queue): refused as before.
 */
function connectGate(cluster: ClusterNode, forwards: boolean, clean: boolean): string | null {
  if (cluster.role === 'leader') return null;
  if (forwards && clean && cluster.liveLeaderId !== null) return null;
  return `not the cluster leader${cluster.leaderId === null ? '' : ` (the leader is ${cluster.leaderId})`}${forwards && !clean ? ': a persistent session is kept by the leader' : ''}`;
}
