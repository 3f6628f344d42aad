// Operating a replicated cluster (docs/replication.md, "Operations"), with three real
// `tributary start` processes on loopback: under-replicated partitions as the leader counts them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { runCliAsync } from '../helpers/cli.js';
import { sample } from '../helpers/metrics-text.js';
import { startReplicas, storedEntries, waitForLeader, waitForReplicated, type ClusterStatusJson, type Replica } from '../helpers/replicas.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Publishes `count` QoS 1 messages to the leader over several MQTT topics (so several partitions); all must be PUBACKed. */
async function publishTo(leader: Replica, prefix: string, count: number): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${leader.mqttPort}`, { clientId: `${prefix}-publisher`, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    await Promise.all(Array.from({ length: count }, (_, i) => client.publishAsync(`plant/line-${i % 4}/power`, `${prefix}-${i}`, { qos: 1 })));
  } finally {
    await client.endAsync(true);
  }
}

/** Waits (bounded) until the leader's status satisfies `ok`; returns it. */
async function leaderStatusUntil(leader: Replica, ok: (s: ClusterStatusJson) => boolean, what: string): Promise<ClusterStatusJson> {
  let last: ClusterStatusJson | null = null;
  for (let i = 0; i < 300; i++) {
    last = await leader.status();
    if (last !== null && last.role === 'leader' && ok(last)) return last;
    await sleep(50);
  }
  throw new Error(`${what}: ${JSON.stringify(last)}`);
}

/** The partitions of the replica's log that hold an entry after position `seq`. */
function partitionsAfter(replica: Replica, seq: number): number {
  return new Set(storedEntries(replica).filter((e) => e.seq > seq).map((e) => `${e.topic}/${e.partition}`)).size;
}

test('under-replicated partitions: 0 while both followers are in sync; with one SIGSTOPped, the partitions it lacks, in /api/cluster, the metric and `cluster status`; 0 again once it caught up', async (t) => {
  const replicas = await startReplicas(t, 3, { extraYaml: 'topics: [{ name: mqtt, partitions: 4 }]\n' });
  const leader = await waitForLeader(replicas);
  const [stopped, running] = replicas.filter((r) => r !== leader) as [Replica, Replica];
  await publishTo(leader, 'before', 40);
  await waitForReplicated(replicas, (await leader.status())!.last.seq);
  await leaderStatusUntil(leader, (s) => s.underReplicatedPartitions === 0 && s.followers.every((f) => f.inSync), 'both followers in sync, nothing under-replicated');

  // One follower stops (SIGSTOP): the other keeps the quorum, so publishes are still acknowledged.
  stopped.signal('SIGSTOP');
  t.after(() => stopped.signal('SIGCONT'));
  await publishTo(leader, 'during', 40);
  const status = await leaderStatusUntil(leader, (s) => s.followers.some((f) => f.id === stopped.id && !f.inSync), 'the stopped follower leaves the in-sync set');
  const behind = status.followers.find((f) => f.id === stopped.id)!;
  assert.ok(status.followers.find((f) => f.id === running.id)!.inSync, 'the running follower stays in sync');
  const expected = partitionsAfter(leader, behind.seq ?? 0);
  assert.ok(expected >= 2, `the publishes while it was stopped went to several partitions (${expected})`);
  assert.equal(status.underReplicatedPartitions, expected, 'the partitions holding entries the stopped follower lacks');

  const exposition = await (await fetch(`http://127.0.0.1:${leader.httpPort}/metrics`)).text();
  assert.equal(sample(exposition, 'tributary_cluster_under_replicated_partitions'), expected);
  const cli = await runCliAsync(['cluster', 'status', '--url', `http://127.0.0.1:${leader.httpPort}`]);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /UNDER-REPLICATED/);
  assert.match(cli.stdout, new RegExp(`^${leader.id}\\s+leader\\s.*\\s${expected}\\s*$`, 'm'));
  assert.match(cli.stdout, new RegExp(`^${stopped.id}\\s.*\\sno\\s*$`, 'm'));
  assert.match(cli.stdout, new RegExp(`^${running.id}\\s.*\\syes\\s*$`, 'm'));
  // A follower counts nothing (in Kafka only a partition's leader does).
  assert.equal((await running.status())!.underReplicatedPartitions, 0);

  // It continues, catches up and is back in the in-sync set.
  stopped.signal('SIGCONT');
  await waitForReplicated(replicas, (await leader.status())!.last.seq);
  await leaderStatusUntil(leader, (s) => s.underReplicatedPartitions === 0 && s.followers.every((f) => f.inSync), 'caught up, nothing under-replicated');
});
