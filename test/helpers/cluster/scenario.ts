// The fault runs' common frame (cluster-faults.test.ts and bench/cluster-soak.ts): three nodes in
// namespaces under MQTT load, then, after the faults, the checkers over every node's records.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { UpstreamStatus } from '../../../bridge/upstream/forwarder.js';
import { startKafka, type KafkaNode } from '../kafka.js';
import { readUpstream } from '../upstream.js';
import { check, qos2BeyondSendings, type CheckReport } from './checker.js';
import { statusOf, waitForConverged, waitForLeader } from './cluster-status.js';
import { checkAcknowledgementEpochs, type EpochReport } from './epoch-checker.js';
import { Network, type NetNode } from './network.js';
import { CLUSTER_TOKEN, startNodes, type NodeProcess } from './node-process.js';
import { acknowledgements, idOf, progress, Publisher, type Sent } from './publishers.js';
import { readEpochs, readReplica } from './replica.js';
import { checkUpstream, type UpstreamReport } from './upstream-checker.js';

export const REPLICATION_PORT = 9093;
/** The cluster's name: every node forwards upstream as it (docs/replication.md, Upstream). */
export const CLUSTER_NAME = 'site-17';
const UPSTREAM_TOPIC = 'edge.mqtt';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const nodeName = (node: NodeProcess): string => `n${node.at.index}`;

/** Each node's settings: fsync, acks quorum, the others as peers by their namespaces' addresses; `extra` merged in. */
export function clusterSettings(net: Network, extra: (at: NetNode) => Record<string, unknown> = () => ({})): (at: NetNode) => Record<string, unknown> {
  return (at) => ({
    log: { durability: 'fsync' },
    cluster: {
      nodeId: `n${at.index}`,
      listen: { host: at.address, port: REPLICATION_PORT },
      peers: net.nodes.filter((o) => o !== at).map((o) => ({ id: `n${o.index}`, address: `${o.address}:${REPLICATION_PORT}` })),
      acks: 'quorum',
      fetchMaxWaitMs: 100,
    },
    ...extra(at),
  });
}

export interface Cluster {
  net: Network;
  nodes: NodeProcess[];
  publishers: Publisher[];
  /** The central Kafka the nodes forward to (with `upstream`), on the network's bridge address. */
  kafka: KafkaNode | null;
}

/**
 * Forwarding to a real Kafka (test/kafka/kafka.sh) listening on the bridge address, which every
 * namespace reaches through its link (an isolated node is cut off from it too). The topic template
 * leaves {node} out, so that whichever node leads forwards to the same topic as the cluster.
 */
function upstreamSettings(kafka: KafkaNode): Record<string, unknown> {
  return { upstream: { enabled: true, brokers: [kafka.bootstrap], topicTemplate: 'edge.{topic}', batchRecords: 20, linger: 0, transactionTimeout: '10s' } };
}

/**
 * Three nodes with a leader, and four publishers (two QoS 1, two QoS 2) that know every address and
 * ask each node they connect to which epoch it leads; returns once they made progress.
 */
export async function startCluster(t: TestContext, options: { upstream?: boolean } = {}): Promise<Cluster> {
  const net = Network.create(t, 3);
  const kafka = options.upstream === true ? await startKafka(t, { host: net.hostAddress }) : null;
  const settings = clusterSettings(net, () => (kafka === null ? {} : upstreamSettings(kafka)));
  const named = (at: NetNode): Record<string, unknown> => {
    const s = settings(at);
    return kafka === null ? s : { ...s, cluster: { ...(s.cluster as object), name: CLUSTER_NAME } };
  };
  const nodes = await startNodes(t, net, named);
  await waitForLeader(nodes);
  const targets = nodes.map((n) => ({
    node: nodeName(n),
    url: n.mqttUrl,
    leaderEpoch: async (): Promise<number | null> => {
      const status = await statusOf(n);
      return status?.role === 'leader' ? status.epoch : null;
    },
  }));
  const publishers = [new Publisher('q1a', 1, targets), new Publisher('q1b', 1, targets), new Publisher('q2a', 2, targets), new Publisher('q2b', 2, targets)];
  for (const p of publishers) p.start();
  t.after(() => Promise.all(publishers.map((p) => p.stop())));
  await progress(publishers, 40);
  return { net, nodes, publishers, kafka };
}

export interface Findings {
  history: Sent[];
  leader: NodeProcess;
  report: CheckReport;
  epochs: EpochReport;
  /** QoS 2 duplicates with more copies than the publisher sent the message (checker.ts, qos2BeyondSendings): a failure. */
  unexplainedQos2: CheckReport['qos2Duplicates'];
  /** The central Kafka against the reference replica; null when the cluster does not forward. */
  upstream: UpstreamReport | null;
}

async function upstreamOf(node: NodeProcess): Promise<(UpstreamStatus & { enabled: boolean }) | null> {
  try {
    const res = await fetch(new URL('/api/upstream', node.httpUrl), { headers: { authorization: `Bearer ${CLUSTER_TOKEN}` }, signal: AbortSignal.timeout(2000) });
    return res.status === 200 ? ((await res.json()) as UpstreamStatus & { enabled: boolean }) : null;
  } catch {
    return null;
  }
}

/** Waits (bounded) until the leader's forwarder has forwarded its whole `mqtt` log. */
async function waitForwarded(leader: NodeProcess): Promise<void> {
  let last: unknown = null;
  for (let i = 0; i < 1200; i++) {
    const status = await upstreamOf(leader);
    last = status;
    const lane = status?.enabled === true ? status.partitions.find((p) => p.topic === 'mqtt') : undefined;
    if (lane !== undefined && lane.forwardedOffset !== null && lane.forwardedOffset === lane.logEndOffset && lane.logEndOffset === lane.highWatermark) return;
    await sleep(100);
  }
  throw new Error(`the leader did not forward its log: ${JSON.stringify(last)}`);
}

/**
 * Publishers stopped, the cluster quiet and caught up (bounded wait; the nodes' output is logged
 * through `t.diagnostic` when it does not converge): the checkers over every node's records.
 */
export async function checkCluster(t: TestContext, nodes: readonly NodeProcess[], publishers: readonly Publisher[], kafka: KafkaNode | null = null): Promise<Findings> {
  await Promise.all(publishers.map((p) => p.stop()));
  let statuses;
  try {
    statuses = await waitForConverged(nodes);
  } catch (err) {
    for (const n of nodes) t.diagnostic(`${nodeName(n)} output (end): ${n.output.slice(-6000)}`);
    throw err;
  }
  const leaderId = statuses.find((s) => s.role === 'leader')!.nodeId;
  const leader = nodes.find((n) => nodeName(n) === leaderId)!;
  const replicas = await Promise.all(nodes.map((n) => readReplica(nodeName(n), n.httpUrl, CLUSTER_TOKEN, 'mqtt', idOf)));
  const history: Sent[] = publishers.flatMap((p) => p.sent);
  const report = check(history, replicas, { reference: leaderId });
  const stamped = readEpochs(leader.dataDir, 'mqtt');
  const epochs = checkAcknowledgementEpochs(acknowledgements(history), replicas.find((r) => r.node === leaderId)!, stamped.batches, stamped.leaders);
  const byId = new Map(history.map((op) => [op.id, op]));
  const unexplainedQos2 = qos2BeyondSendings(report.qos2Duplicates, (id) => byId.get(id)!.attempts.length);
  let upstream: UpstreamReport | null = null;
  if (kafka !== null) {
    await waitForwarded(leader);
    upstream = checkUpstream(replicas.find((r) => r.node === leaderId)!, 'mqtt', await readUpstream(kafka.bootstrap, UPSTREAM_TOPIC));
  }
  return { history, leader, report, epochs, unexplainedQos2, upstream };
}

/** Publishers stopped, the cluster quiet and caught up: the checkers over every node's records, asserted. */
export async function checkAll(t: TestContext, nodes: readonly NodeProcess[], publishers: readonly Publisher[], context: string, kafka: KafkaNode | null = null): Promise<Findings> {
  const findings = await checkCluster(t, nodes, publishers, kafka);
  const { report, epochs, history } = findings;
  t.diagnostic(`${context}: ${report.summary}`);
  t.diagnostic(`${context}: ${epochs.summary}`);
  assert.deepEqual(report.lost.map((op) => op.id), [], `acknowledged messages lost (${context})`);
  assert.deepEqual(report.orderViolations, [], `order (${context})`);
  assert.deepEqual(report.divergent, [], `replicas differ below their high watermarks (${context})`);
  // Invariant 1: one leader per epoch, so one acknowledging node per epoch, the one the epoch's start record names.
  assert.deepEqual(epochs.shared, [], `two nodes acknowledged in the same epoch (${context})`);
  assert.deepEqual(epochs.notTheLeader, [], `acknowledged by a node that did not lead the epoch (${context})`);
  assert.deepEqual(epochs.otherEpochThanAtConnect, [], `acknowledged in another epoch than the node led at connect (${context})`);
  assert.ok(epochs.epochs.length > 0);
  // QoS 2: at most one copy per sending (each resend is a new session, which no server deduplicates).
  assert.deepEqual(findings.unexplainedQos2, [], `QoS 2 messages stored more often than sent (${context})`);
  if (report.qos2Duplicates.length > 0) t.diagnostic(`${report.qos2Duplicates.length} QoS 2 messages stored twice after the publisher sent them again on a new session`);
  const everyAck = history.filter((op) => op.acked).length;
  assert.ok(everyAck > 0 && report.acknowledged === everyAck);
  if (findings.upstream !== null) {
    t.diagnostic(`${context}: ${findings.upstream.summary}`);
    assert.deepEqual([findings.upstream.missing, findings.upstream.twice, findings.upstream.differing], [[], [], []], `the central Kafka does not hold the edge log exactly once (${context})`);
  }
  return findings;
}
