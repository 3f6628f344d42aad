// Replication with real processes on loopback (docs/replication.md): three `tributary start`
// nodes, MQTT.js publishers, faults by signal. The checker: every PUBACKed message is in the log
// of every replica, and the replicas hold the same entries, byte for byte, at the same positions.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { runCliAsync } from '../helpers/cli.js';
import { storedEntries, storedValues, startReplicas, waitForLeader, waitForReplicated, type Replica, publishCounted } from '../helpers/replicas.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

function connect(replica: Replica, clientId: string): Promise<MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${replica.mqttPort}`, { clientId, reconnectPeriod: 0, connectTimeout: 30_000 });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

/**
 * Publishes `count` messages to whichever of `candidates` leads, following the leader should it
 * change meanwhile (a loaded machine can stall a leader past its lease): the acknowledged payloads
 * (`prefix-aN-i`, N the attempt).
 */
async function publishToLeader(candidates: readonly Replica[], prefix: string, count: number): Promise<string[]> {
  const acked: string[] = [];
  for (let attempt = 0; acked.length < count && attempt < 10; attempt++) {
    const leader = await waitForLeader(candidates);
    const client = await connect(leader, `${prefix}-publisher`).catch(() => null);
    if (client === null) continue;
    client.on('error', () => undefined);
    acked.push(...(await publishCounted(client, `${prefix}-a${attempt}`, count - acked.length)));
    client.end(true);
  }
  assert.equal(acked.length, count, `${prefix}: acknowledged by a leader`);
  return acked;
}

/** The checker: identical entries (position, topic, partition, bytes) on every replica, and every acked payload on each. */
function assertReplicasAgree(replicas: readonly Replica[], acked: readonly string[]): void {
  const [first, ...rest] = replicas.map((r) => storedEntries(r));
  for (const [i, entries] of rest.entries()) {
    assert.equal(entries.length, first!.length, `replica ${replicas[i + 1]!.id} holds ${entries.length} entries, ${replicas[0]!.id} ${first!.length}`);
    for (let j = 0; j < entries.length; j++) {
      assert.equal(entries[j]!.seq, first![j]!.seq);
      assert.equal(entries[j]!.topic, first![j]!.topic);
      assert.ok(entries[j]!.data.equals(first![j]!.data), `entry ${entries[j]!.seq} differs between ${replicas[0]!.id} and ${replicas[i + 1]!.id}`);
    }
  }
  for (const replica of replicas) {
    const values = storedValues(replica);
    const held = new Set(values);
    const missing = acked.filter((p) => !held.has(p));
    assert.deepEqual(missing, [], `${replica.id} lacks acknowledged messages`);
    assert.equal(values.length, held.size, `${replica.id} holds a message twice`);
  }
}

test('three nodes elect one leader; PUBACKed messages are on all three byte for byte; a follower refuses CONNECT with 3; after SIGKILL of the leader another leads with every acknowledged message, the killed node catches up on restart, and so does a follower whose disk was wiped', async (t) => {
  const replicas = await startReplicas(t, 3);
  const leader = await waitForLeader(replicas);
  const followers = replicas.filter((r) => r !== leader);

  // A follower: CONNACK 3 (server unavailable).
  await assert.rejects(connect(followers[0]!, 'to-follower'), (err: Error & { code?: number }) => err.code === 3);
  const role = await fetch(`http://127.0.0.1:${followers[0]!.httpPort}/api/cluster/role`);
  assert.equal(role.status, 503);
  assert.equal(((await role.json()) as { role: string }).role, 'follower');
  assert.equal((await fetch(`http://127.0.0.1:${leader.httpPort}/api/cluster/role`)).status, 200);

  // Operations: the CLI and the metrics say the same.
  const cli = await runCliAsync(['cluster', 'status', '--url', `http://127.0.0.1:${leader.httpPort}`]);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`${leader.id}\\s+leader\\s+\\d+\\s+${leader.id}`));
  for (const f of followers) assert.match(cli.stdout, new RegExp(`^${f.id}\\s+\\d+\\s+\\d+`, 'm'));
  const exposition = await (await fetch(`http://127.0.0.1:${leader.httpPort}/metrics`)).text();
  assert.match(exposition, /^tributary_cluster_role\{role="leader"\} 1$/m);
  assert.match(exposition, /^tributary_cluster_elections_total [1-9]\d*$/m);

  const client = await connect(leader, 'publisher-1');
  const acked = await publishCounted(client, 'before', 200);
  client.end(true);
  assert.equal(acked.length, 200);
  const leaderStatus = (await leader.status())!;
  await waitForReplicated(replicas, leaderStatus.last.seq);
  assertReplicasAgree(replicas, acked);

  // SIGKILL the leader: one of the others leads, with everything acknowledged; publishing goes on there.
  await leader.kill();
  const next = await waitForLeader(followers);
  assert.notEqual(next.id, leader.id);
  for (const r of followers) {
    const held = new Set(storedValues(r));
    assert.deepEqual(acked.filter((p) => !held.has(p)), [], `${r.id} lost acknowledged messages`);
  }
  const client2 = await connect(next, 'publisher-2');
  const acked2 = await publishCounted(client2, 'after', 100);
  client2.end(true);
  assert.equal(acked2.length, 100);

  // The killed node comes back as a follower and catches up.
  await leader.restart();
  const same = await waitForLeader(replicas);
  assert.equal(same.id, next.id);
  await waitForReplicated(replicas, (await next.status())!.last.seq);
  assertReplicasAgree(replicas, [...acked, ...acked2]);

  // A follower whose data directory is wiped comes back empty and copies the whole log again.
  const wiped = replicas.find((r) => r !== next)!;
  await wiped.kill();
  rmSync(wiped.dir, { recursive: true, force: true });
  await wiped.restart();
  await waitForLeader(replicas);
  await waitForReplicated(replicas, (await next.status())!.last.seq);
  assertReplicasAgree(replicas, [...acked, ...acked2]);
});

test('a SIGSTOPped leader acknowledges nothing; a new leader is elected; on SIGCONT the old one steps down and ends with the new leader log; only the leader runs the upstream forwarder', async (t) => {
  // Upstream to a port where no Kafka listens: the forwarder runs (and retries) wherever this node leads.
  const replicas = await startReplicas(t, 3, { extraYaml: 'upstream: { enabled: true, brokers: ["127.0.0.1:9"] }\n' });
  const leader = await waitForLeader(replicas);
  const others = replicas.filter((r) => r !== leader);
  const forwarding = async (r: Replica): Promise<boolean> => ((await (await fetch(`http://127.0.0.1:${r.httpPort}/api/upstream`)).json()) as { enabled: boolean }).enabled;
  await pollUntil(() => forwarding(leader), PATIENCE_MS, 20);
  assert.deepEqual(await Promise.all(replicas.map(forwarding)), replicas.map((r) => r === leader));
  const client = await connect(leader, 'publisher-stopped');
  const acked = await publishCounted(client, 'first', 50);
  assert.equal(acked.length, 50);

  leader.signal('SIGSTOP');
  let stoppedAcked = false;
  let stoppedFailed = false;
  client.on('error', () => undefined);
  client.publish('plant/line/power', 'while-stopped', { qos: 1 }, (err) => {
    if (err == null) stoppedAcked = true;
    else stoppedFailed = true;
  });
  const next = await waitForLeader(others);
  assert.equal(stoppedAcked, false, 'a stopped leader acknowledged');
  assert.notEqual(next.id, leader.id);
  const acked2 = await publishToLeader(others, 'second', 50);

  leader.signal('SIGCONT');
  // Either follower may lead by now (a loaded machine can move leadership between them); never
  // the deposed one at once.
  const after = await waitForLeader(replicas);
  assert.notEqual(after.id, leader.id, 'the old leader must not lead again at once');
  await pollUntil(async () => !(await forwarding(leader)) && (await forwarding(after)), PATIENCE_MS, 20);
  assert.deepEqual(await Promise.all(replicas.map(forwarding)), replicas.map((r) => r === after), 'only the new leader forwards');
  await waitForReplicated(replicas, (await after.status())!.last.seq);
  // Its connection is closed without a PUBACK for what it took while deposed.
  await pollUntil(() => !client.connected, PATIENCE_MS, 25);
  client.end(true);
  assert.equal(stoppedAcked, false, `the old leader acknowledged after SIGCONT (failed: ${stoppedFailed})`);
  assertReplicasAgree(replicas, [...acked, ...acked2]);
  assert.ok(!storedValues(after).includes('while-stopped'));
});

test('a leader cut off by SIGSTOPping both followers stores but never acknowledges; after a new leader writes on, its divergent tail is truncated to the new leader log', async (t) => {
  const replicas = await startReplicas(t, 3, { electionTimeoutMs: 2000 });
  const old = await waitForLeader(replicas);
  const [f1, f2] = replicas.filter((r) => r !== old) as [Replica, Replica];
  const client = await connect(old, 'publisher-alone');
  client.on('error', () => undefined);
  const acked = await publishCounted(client, 'first', 20);
  assert.equal(acked.length, 20);
  const before = (await old.status())!.last.seq;

  f1.signal('SIGSTOP');
  f2.signal('SIGSTOP');
  // No fetch of theirs is parked at the leader any more (it answers each within fetchMaxWaitMs,
  // 100 ms here): an answer queued to a stopped follower would carry the next entries to it.
  // (A status not answered is not quiet: it says nothing of the fetches.)
  const quiet = async (): Promise<boolean> => {
    const followers = (await old.status())?.followers;
    return followers !== undefined && followers.every((f) => ((f as { lastFetchMsAgo?: number | null }).lastFetchMsAgo ?? 0) > 300);
  };
  await pollUntil(quiet, PATIENCE_MS, 20);
  assert.ok(await quiet(), 'followers still fetching');
  const alone: string[] = [];
  for (let i = 0; i < 5; i++) client.publish('plant/line/power', `alone-${i}`, { qos: 1 }, (err) => err == null && alone.push(`alone-${i}`));
  // Stored by the old leader (its log end moves), never committed: no quorum can fetch.
  await pollUntil(async () => ((await old.status())?.last.seq ?? 0) > before, PATIENCE_MS, 25);
  assert.ok((await old.status())!.last.seq > before, 'the old leader did not store the publishes');
  old.signal('SIGSTOP');
  f1.signal('SIGCONT');
  f2.signal('SIGCONT');
  const acked2 = await publishToLeader([f1, f2], 'second', 20);

  old.signal('SIGCONT');
  const next = await waitForLeader(replicas).catch((err: Error) => {
    throw new Error(`${err.message}\n${old.output()}`);
  });
  await waitForReplicated(replicas, (await next.status())!.last.seq);
  client.end(true);
  assert.deepEqual(alone, [], 'the cut-off leader acknowledged');
  assertReplicasAgree(replicas, [...acked, ...acked2]);
  assert.ok(((await old.status()) as { truncations?: number }).truncations! >= 1, 'the old leader truncated nothing');
  for (const r of replicas) assert.ok(!storedValues(r).some((v) => v.startsWith('alone-')), `${r.id} kept the unacknowledged tail`);
});

test('acks all: with one follower stopped nothing is acknowledged; once it is back the held publish is', async (t) => {
  const replicas = await startReplicas(t, 3, { acks: 'all', electionTimeoutMs: 3000 });
  const leader = await waitForLeader(replicas);
  const [stopped] = replicas.filter((r) => r !== leader) as [Replica];
  const client = await connect(leader, 'publisher-all');
  client.on('error', () => undefined);
  assert.equal((await publishCounted(client, 'both', 10)).length, 10);

  const lastBefore = (await leader.status())!.last.seq;
  stopped.signal('SIGSTOP');
  let acked = false;
  client.publish('plant/line/power', 'held', { qos: 1 }, (err) => {
    if (err == null) acked = true;
  });
  // Stored on the leader and on the running follower: a majority, which acks all does not take.
  const running = replicas.find((r) => r !== leader && r !== stopped)!;
  await pollUntil(async () => ((await running.status())?.last.seq ?? 0) > lastBefore, PATIENCE_MS, 25);
  assert.ok((await running.status())!.last.seq > lastBefore, 'the running follower did not get the entry');
  assert.equal(acked, false, 'acknowledged without every replica');
  assert.ok((await leader.status())!.commitSeq <= lastBefore, 'committed without every replica');

  stopped.signal('SIGCONT');
  await pollUntil(() => acked, PATIENCE_MS, 25);
  assert.equal(acked, true, 'not acknowledged once every replica had it');
  client.end(true);
});
