// Two data nodes and a witness (docs/replication.md, The witness), real processes on loopback:
// `tributary start` twice and `tributary witness`, MQTT.js publishers, faults by signal. The witness
// votes and holds entry headers; it counts toward a commit under acks: quorum and not under acks: all.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { check } from '../helpers/cluster/checker.js';
import { idOf, progress, Publisher } from '../helpers/cluster/publishers.js';
import { readReplica } from '../helpers/cluster/replica.js';
import { startReplicasWithWitness, storedEntries, storedValues, waitForLeader, waitForReplicated, type Replica, publishCounted } from '../helpers/replicas.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

/** The witness's header log, read from its positions.db (read-only; it may be running). */
function witnessHeaders(witness: Replica): { seq: number; epoch: number; topic: string; partition: number; size: number }[] {
  const db = new Database(join(witness.dir, 'positions.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT seq, epoch, topic, partition, size FROM entries ORDER BY seq`).all() as { seq: number; epoch: number; topic: string; partition: number; size: number }[];
  } finally {
    db.close();
  }
}

async function waitFor(what: string, condition: () => Promise<boolean>): Promise<void> {
  if (!(await pollUntil(condition, PATIENCE_MS, 25))) assert.fail(`timed out waiting until ${what}`);
}

test('two data nodes and a witness elect a data node, which acknowledges QoS 1 publishes; the witness holds every entry header (position, epoch, topic, partition, size) and no records', async (t) => {
  const { replicas, witness } = await startReplicasWithWitness(t);
  const leader = await waitForLeader([...replicas, witness]);
  assert.notEqual(leader.id, 'w');
  assert.equal((await witness.status())!.role, 'witness');

  const client = await connect(leader, 'publisher-1');
  const acked = await publishCounted(client, 'm', 100);
  client.end(true);
  assert.equal(acked.length, 100);
  await waitForReplicated([...replicas, witness], (await leader.status())!.last.seq);
  assert.match(await (await fetch(`http://127.0.0.1:${leader.httpPort}/metrics`)).text(), /^tributary_cluster_under_replicated_followers 0$/m);
  for (const r of replicas) assert.deepEqual(storedValues(r).filter((v) => !acked.includes(v)), []);
  for (const r of replicas) assert.equal(storedValues(r).length, 100, `${r.id} holds every message once`);

  const entries = storedEntries(leader);
  const headers = witnessHeaders(witness);
  assert.deepEqual(
    headers.map((h) => ({ seq: h.seq, topic: h.topic, partition: h.partition, size: h.size })),
    entries.map((e) => ({ seq: e.seq, topic: e.topic, partition: e.partition, size: e.data.length })),
  );
  assert.equal(existsSync(join(witness.dir, 'log.db')), false, 'a witness stores no records');
  const metrics = await (await fetch(`http://127.0.0.1:${witness.httpPort}/metrics`)).text();
  assert.match(metrics, /^tributary_cluster_role\{role="witness"\} 1$/m);
  assert.equal((await fetch(`http://127.0.0.1:${witness.httpPort}/healthz`)).status, 200);
});

test('2 + witness under QoS 1 load: SIGKILL of the leader, the other data node leads with every PUBACKed message (the checker), and the killed node catches up on restart', async (t) => {
  const { replicas, witness } = await startReplicasWithWitness(t);
  const leader = await waitForLeader([...replicas, witness]);
  const survivor = replicas.find((r) => r !== leader)!;
  const targets = replicas.map((r) => ({ node: r.id, url: `mqtt://127.0.0.1:${r.mqttPort}` }));
  const publishers = [new Publisher('p1', 1, targets), new Publisher('p2', 1, targets)];
  for (const p of publishers) p.start();
  t.after(() => Promise.all(publishers.map((p) => p.stop())));
  await progress(publishers, 100);

  await leader.kill();
  const next = await waitForLeader([survivor, witness]);
  assert.equal(next.id, survivor.id);
  await progress(publishers, 100);
  await Promise.all(publishers.map((p) => p.stop()));

  const history = publishers.flatMap((p) => p.sent);
  const report = check(history, [await readReplica(survivor.id, `http://127.0.0.1:${survivor.httpPort}`, null, 'mqtt', idOf)], { reference: survivor.id });
  assert.deepEqual(report.lost, [], report.summary);
  assert.deepEqual(report.orderViolations, [], report.summary);
  assert.ok(report.acknowledged >= 200, report.summary);

  await leader.restart();
  await waitForLeader([...replicas, witness]);
  await waitForReplicated([...replicas, witness], (await survivor.status())!.last.seq);
  const both = await Promise.all(replicas.map((r) => readReplica(r.id, `http://127.0.0.1:${r.httpPort}`, null, 'mqtt', idOf)));
  const after = check(history, both, { reference: survivor.id });
  assert.equal(after.ok || (after.lost.length === 0 && after.divergent.length === 0 && after.orderViolations.length === 0), true, after.summary);
});

test('a data node that was down while the other committed with the witness is not elected while the one with the data is down (the cluster waits rather than lose acknowledged messages); once that one returns, it leads and the other catches up', async (t) => {
  const { replicas, witness } = await startReplicasWithWitness(t);
  const leader = await waitForLeader([...replicas, witness]);
  const lagging = replicas.find((r) => r !== leader)!;
  await lagging.kill();

  // The leader and the witness are a majority: publishes are acknowledged with the other data node down.
  const client = await connect(leader, 'publisher-alone');
  const acked = await publishCounted(client, 'alone', 50);
  client.end(true);
  assert.equal(acked.length, 50);
  const committed = (await leader.status())!.commitSeq;
  await waitFor('the witness holds the committed position', async () => ((await witness.status())?.last.seq ?? 0) >= committed);
  // Acknowledged messages on one disk: the leader's metrics say so.
  const exposition = await (await fetch(`http://127.0.0.1:${leader.httpPort}/metrics`)).text();
  assert.match(exposition, /^tributary_cluster_under_replicated_followers 1$/m);

  await leader.kill();
  await lagging.restart();
  // The witness refuses the lagging node (its log is behind the witness's): no leader, for several election timeouts.
  for (let i = 0; i < 40; i++) {
    const [l, w] = await Promise.all([lagging.status(), witness.status()]);
    assert.notEqual(l?.role, 'leader', `${lagging.id} was elected without the acknowledged messages`);
    assert.notEqual(w?.leaderId, lagging.id, `the witness follows ${lagging.id}`);
    await sleep(150);
  }

  await leader.restart();
  const next = await waitForLeader([...replicas, witness]);
  await waitForReplicated([...replicas, witness], (await next.status())!.last.seq);
  for (const r of replicas) {
    const held = new Set(storedValues(r));
    assert.deepEqual(acked.filter((p) => !held.has(p)), [], `${r.id} lacks acknowledged messages`);
  }
});

test('acks: all with a witness counts both data nodes and not the witness: publishes are acknowledged while the witness is stopped; one is not while the other data node is stopped, though the witness holds it, and is once that node continues', async (t) => {
  const { replicas, witness } = await startReplicasWithWitness(t, { acks: 'all' });
  const leader = await waitForLeader([...replicas, witness]);
  const stopped = replicas.find((r) => r !== leader)!;
  const client = await connect(leader, 'publisher-all');
  client.on('error', () => undefined);
  assert.equal((await publishCounted(client, 'both', 10)).length, 10);

  // Every data replica holds them: acknowledged without the witness.
  witness.signal('SIGSTOP');
  t.after(() => witness.signal('SIGCONT'));
  assert.equal((await publishCounted(client, 'no-witness', 10)).length, 10);
  witness.signal('SIGCONT');

  const lastBefore = (await leader.status())!.last.seq;
  stopped.signal('SIGSTOP');
  t.after(() => stopped.signal('SIGCONT'));
  let acked = false;
  client.publish('plant/line/power', 'held', { qos: 1 }, (err) => {
    if (err == null) acked = true;
  });
  // The leader and the witness hold it: a majority, which acks: all does not take.
  await waitFor('the witness holds the held entry', async () => ((await witness.status())?.last.seq ?? 0) > lastBefore);
  assert.equal(acked, false, 'acknowledged with the witness instead of every data replica');
  assert.ok((await leader.status())!.commitSeq <= lastBefore, 'committed without every data replica');

  stopped.signal('SIGCONT');
  await waitFor('the held publish is acknowledged', async () => acked);
  client.end(true);
});

test('the witness is kept no further than a live data follower, so that follower is elected when the leader dies: a follower paused briefly holds everything the witness holds, and the witness votes for it', async (t) => {
  // A long election timeout: the paused follower stays live (heard from within it) through the checks below.
  const { replicas, witness } = await startReplicasWithWitness(t, { electionTimeoutMs: 6000 });
  const leader = await waitForLeader([...replicas, witness]);
  const follower = replicas.find((r) => r !== leader)!;
  const client = await connect(leader, 'publisher-cap');
  client.on('error', () => undefined);
  const acked = await publishCounted(client, 'before', 20);
  assert.equal(acked.length, 20);
  await waitForReplicated([...replicas, witness], (await leader.status())!.last.seq);

  const followerAt = (await follower.status())!.last.seq;
  follower.signal('SIGSTOP');
  t.after(() => follower.signal('SIGCONT'));
  let heldAcked = false;
  client.publish('plant/line/power', 'held', { qos: 1 }, (err) => {
    if (err == null) heldAcked = true;
  });
  await waitFor('the leader stored the held publish', async () => ((await leader.status())?.last.seq ?? 0) > followerAt);
  // Before: the witness fetched it at once, the commit went on with it, and the witness then refused the follower.
  for (let i = 0; i < 20; i++) {
    assert.ok(((await witness.status())?.last.seq ?? 0) <= followerAt, 'the witness is ahead of a live data follower');
    await sleep(50);
  }
  assert.equal(heldAcked, false);
  client.end(true);

  await leader.kill();
  follower.signal('SIGCONT');
  const next = await waitForLeader([follower, witness]);
  assert.equal(next.id, follower.id);
  const held = new Set(storedValues(follower));
  assert.deepEqual(acked.filter((p) => !held.has(p)), [], 'the new leader lacks acknowledged messages');
});
