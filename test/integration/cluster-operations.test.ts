// Operating a replicated cluster (docs/replication.md, "Operations"), with three real
// `tributary start` processes on loopback: under-replicated partitions as the leader counts them; a
// rolling restart under load; a follower from an empty disk after the leader's retention deleted
// the log's start.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { runCliAsync } from '../helpers/cli.js';
import { check } from '../helpers/cluster/checker.js';
import { idOf, progress, Publisher } from '../helpers/cluster/publishers.js';
import { readReplica } from '../helpers/cluster/replica.js';
import { sample } from '../helpers/metrics-text.js';
import { startReplicas, storedEntries, waitForLeader, waitForReplicated, type ClusterStatusJson, type Replica } from '../helpers/replicas.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

/** Publishes `count` QoS 1 messages to the leader over several MQTT topics (so several partitions); all must be PUBACKed. */
async function publishTo(leader: Replica, prefix: string, count: number): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${leader.mqttPort}`, { clientId: `${prefix}-publisher`, reconnectPeriod: 0, connectTimeout: 30_000 });
  try {
    await Promise.all(Array.from({ length: count }, (_, i) => client.publishAsync(`plant/line-${i % 4}/power`, `${prefix}-${i}`, { qos: 1 })));
  } finally {
    await client.endAsync(true);
  }
}

/** Waits (bounded) until the leader's status satisfies `ok`; returns it. */
async function leaderStatusUntil(leader: Replica, ok: (s: ClusterStatusJson) => boolean, what: string): Promise<ClusterStatusJson> {
  let last: ClusterStatusJson | null = null;
  const met = async (): Promise<boolean> => {
    last = await leader.status();
    return last !== null && last.role === 'leader' && ok(last);
  };
  if (await pollUntil(met, PATIENCE_MS, 50)) return last!;
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

test('a rolling restart under QoS 1 load (SIGTERM each node in turn, wait until it rejoined and caught up) loses nothing, stores each acknowledged message once (but a message in flight at a leader\'s stop, resent to the next), and leaves the replicas identical; a stopping leader resigns and both others take it', async (t) => {
  const replicas = await startReplicas(t, 3);
  await waitForLeader(replicas);
  const targets = replicas.map((r) => ({ node: r.id, url: `mqtt://127.0.0.1:${r.mqttPort}` }));
  const publishers = ['p1', 'p2', 'p3'].map((name) => new Publisher(name, 1, targets));
  for (const p of publishers) p.start();
  t.after(() => Promise.all(publishers.map((p) => p.stop())));
  await progress(publishers, 100);

  let leaderRestarts = 0;
  for (const node of replicas) {
    const wasLeader = (await node.status())?.role === 'leader';
    const others = replicas.filter((r) => r !== node);
    const resignedBefore = others.map((r) => (r.output().match(/the cluster leader resigned/g) ?? []).length);
    const stoppedAt = Date.now();
    assert.equal(await node.stop(), 0, `${node.id} stops cleanly on SIGTERM:\n${node.output().slice(-2000)}`);
    if (wasLeader) {
      leaderRestarts++;
      // A clean stop resigns (EndQuorumEpoch): the others hear it and elect a successor soon.
      await waitForLeader(others);
      const resigned = (): number[] => others.map((r, i) => (r.output().match(/the cluster leader resigned/g) ?? []).length - resignedBefore[i]!);
      await pollUntil(() => resigned().every((n) => n >= 1)); // their logs may come late on a loaded machine
      assert.ok(resigned().every((n) => n === 1), `both others were told the leader resigned (${resigned().join(', ')}):\n${others.map((r) => r.output().split('\n').filter((l) => l.includes('"component":"cluster"')).slice(-8).join('\n')).join('\n---\n')}`);
      t.diagnostic(`leader ${node.id}: a new leader ${Date.now() - stoppedAt} ms after SIGTERM (not asserted)`);
    }
    await progress(publishers, 50); // the two others go on acknowledging
    await node.restart();
    const leader = await waitForLeader(replicas);
    await waitForReplicated(replicas, (await leader.status())!.last.seq); // the restarted node caught up
    await progress(publishers, 50);
  }
  assert.ok(leaderRestarts >= 1, 'a leader was among the nodes restarted');

  await Promise.all(publishers.map((p) => p.stop()));
  const leader = await waitForLeader(replicas);
  await waitForReplicated(replicas, (await leader.status())!.last.seq);
  const history = publishers.flatMap((p) => p.sent);
  const stored = await Promise.all(replicas.map((r) => readReplica(r.id, `http://127.0.0.1:${r.httpPort}`, null, 'mqtt', idOf)));
  const report = check(history, stored, { reference: leader.id });
  t.diagnostic(report.summary);
  assert.equal(report.lost.length, 0, report.summary);
  assert.equal(report.divergent.length, 0, report.summary);
  assert.equal(report.orderViolations.length, 0, report.summary);
  // Stored once, but for a message in flight when a leader stopped: the stopping leader closes its
  // MQTT connections before the append in flight is committed (the PUBACK cannot go), the publisher
  // sends it again to the next leader, and the first copy is committed too. MQTT allows that at
  // QoS 1 [MQTT-4.3.2]; any other duplicate is a failure.
  const copies = new Map<string, number>();
  for (const r of stored.find((s) => s.node === leader.id)!.records) if (r.id !== null) copies.set(r.id, (copies.get(r.id) ?? 0) + 1);
  const byId = new Map(history.map((op) => [op.id, op]));
  const unexplained = [...copies].filter(([id, n]) => n > 1 && new Set(byId.get(id)?.attempts.map((a) => a.node)).size < 2);
  assert.deepEqual(unexplained, [], `stored twice without having been sent to two nodes: ${report.summary}`);
  assert.ok(report.qos1Duplicates <= publishers.length * leaderRestarts, `at most one message in flight per publisher at each leader's stop: ${report.summary}`);
  for (const r of stored) assert.equal(r.records.length, stored[0]!.records.length, `${r.node} holds as many records as ${stored[0]!.node}`);
});

/** Each partition's log start offset in a replica's log.db (read-only; the node may be running). */
function logStarts(replica: Replica, topic: string): number[] {
  const db = new Database(join(replica.dir, 'log.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT partition, log_start_offset AS start FROM partitions WHERE topic = ? ORDER BY partition`).all(topic) as { partition: number; start: number }[];
    return rows.map((r) => r.start);
  } finally {
    db.close();
  }
}

test('a follower restarted with an empty disk after the leader\'s retention deleted the log\'s start begins at the leader\'s log start: same offsets, identical batches, and it follows on', async (t) => {
  // A byte cap small enough that retention deletes as the publishes come (each node applies it itself).
  const replicas = await startReplicas(t, 3, { extraYaml: 'topics: [{ name: mqtt, partitions: 2, retention: { maxBytes: 64KiB } }]\n' });
  let leader = await waitForLeader(replicas);
  const payload = 'x'.repeat(1024);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${leader.mqttPort}`, { clientId: 'retention-publisher', reconnectPeriod: 0 });
  for (let round = 0; round < 20 && !logStarts(leader, 'mqtt').every((start) => start > 0); round++) {
    await Promise.all(Array.from({ length: 200 }, (_, i) => client.publishAsync(`plant/line-${i % 2}/power`, `${round}-${i}-${payload}`, { qos: 1 })));
  }
  await client.endAsync(true);
  const leaderStarts = logStarts(leader, 'mqtt');
  assert.ok(leaderStarts.every((start) => start > 0), `the leader's retention deleted each partition's start: ${leaderStarts.join(', ')}`);
  await waitForReplicated(replicas, (await leader.status())!.last.seq).catch((err: Error) => {
    throw new Error(`${err.message}\n${replicas.map((r) => r.output().split('\n').filter((l) => l.includes('"level":50') || l.includes('"level":40')).slice(-5).join('\n')).join('\n')}`);
  });

  // A follower loses its disk and comes back empty.
  const wiped = replicas.find((r) => r !== leader)!;
  await wiped.kill();
  rmSync(wiped.dir, { recursive: true, force: true });
  await wiped.restart();
  leader = await waitForLeader(replicas);
  await waitForReplicated(replicas, (await leader.status())!.last.seq).catch((err: Error) => {
    throw new Error(`${err.message}\n${wiped.output().split('\n').filter((l) => l.includes('"level":50') || l.includes('"level":40')).slice(-5).join('\n')}`);
  });
  const starts = logStarts(wiped, 'mqtt');
  assert.ok(starts.every((start, p) => start >= leaderStarts[p]!), `it begins at (or, by its own retention, after) the leader's log start: ${starts.join(', ')} against ${leaderStarts.join(', ')}`);

  // It follows on: new publishes reach it.
  await publishTo(leader, 'after-wipe', 20);
  await waitForReplicated(replicas, (await leader.status())!.last.seq);

  assertSameTail(wiped, leader);
});

/**
 * Identical from the later of the two log starts: per partition, the shorter list of batches
 * (position and bytes) is the tail of the longer one.
 */
function assertSameTail(a: Replica, b: Replica): void {
  const byPartition = (r: Replica): Map<string, string[]> => {
    const out = new Map<string, string[]>();
    for (const e of storedEntries(r)) {
      const key = `${e.topic}/${e.partition}`;
      out.set(key, [...(out.get(key) ?? []), `${e.seq}:${e.data.toString('base64')}`]);
    }
    return out;
  };
  const ours = byPartition(a);
  const theirs = byPartition(b);
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
  for (const [key, mine] of ours) {
    const other = theirs.get(key)!;
    assert.ok(mine.length > 0, `${key} holds batches`);
    const [shorter, longer] = mine.length <= other.length ? [mine, other] : [other, mine];
    assert.deepEqual(shorter, longer.slice(longer.length - shorter.length), `${key}: the same batches at the same positions`);
  }
}

/** Each partition's log end offset in a replica's log.db (read-only). */
function logEnds(replica: Replica, topic: string): number[] {
  const db = new Database(join(replica.dir, 'log.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        `SELECT p.partition, COALESCE(MAX(b.last_offset) + 1, p.log_start_offset) AS end
           FROM partitions p LEFT JOIN batches b ON b.partition_id = p.id WHERE p.topic = ? GROUP BY p.id ORDER BY p.partition`,
      )
      .all(topic) as { partition: number; end: number }[];
    return rows.map((r) => r.end);
  } finally {
    db.close();
  }
}

/** Warnings and errors a replica logged, the last few (for a failure message). */
const complaints = (r: Replica): string => r.output().split('\n').filter((l) => l.includes('"level":50') || l.includes('"level":40')).slice(-5).join('\n');

test('a follower that holds batches but was down while the leader\'s retention deleted entries it never fetched empties those partitions and begins at the leader\'s log start: it catches up, same offsets, identical batches', async (t) => {
  const replicas = await startReplicas(t, 3, { extraYaml: 'topics: [{ name: mqtt, partitions: 2, retention: { maxBytes: 64KiB } }]\n' });
  let leader = await waitForLeader(replicas);
  const payload = 'x'.repeat(1024);
  // Both partitions hold some batches on every node (well below the cap), then a follower goes down.
  await publishTo(leader, `before-${payload}`, 16);
  await waitForReplicated(replicas, (await leader.status())!.last.seq);
  const down = replicas.find((r) => r !== leader)!;
  await down.kill();
  const ends = logEnds(down, 'mqtt');
  assert.ok(ends.every((end) => end > 0), `the follower holds batches in each partition: ${ends.join(', ')}`);

  // The other two go on; the leader's retention deletes past what the stopped follower holds.
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${leader.mqttPort}`, { clientId: 'retention-publisher', reconnectPeriod: 0 });
  for (let round = 0; round < 20 && !logStarts(leader, 'mqtt').every((start, p) => start > ends[p]!); round++) {
    await Promise.all(Array.from({ length: 200 }, (_, i) => client.publishAsync(`plant/line-${i % 2}/power`, `${round}-${i}-${payload}`, { qos: 1 })));
  }
  await client.endAsync(true);
  const leaderStarts = logStarts(leader, 'mqtt');
  assert.ok(leaderStarts.every((start, p) => start > ends[p]!), `the leader's log starts ${leaderStarts.join(', ')} are past the follower's ends ${ends.join(', ')}`);

  // It comes back with its batches: without the leader's log start it would be refused its next batch at every fetch.
  await down.restart();
  leader = await waitForLeader(replicas);
  await waitForReplicated(replicas, (await leader.status())!.last.seq).catch((err: Error) => {
    throw new Error(`${err.message}\n${complaints(down)}`);
  });
  const starts = logStarts(down, 'mqtt');
  assert.ok(starts.every((start, p) => start >= leaderStarts[p]!), `it begins at (or, by its own retention, after) the leader's log start: ${starts.join(', ')} against ${leaderStarts.join(', ')}`);
  assert.match(down.output(), /behind the leader's log start/, 'it said why it emptied a partition');

  await publishTo(leader, 'after-gap', 20);
  await waitForReplicated(replicas, (await leader.status())!.last.seq);
  assertSameTail(down, leader);
});
