// Bootstrapping a cluster with real processes (docs/replication.md, "Bootstrapping a cluster"):
// nodes formatted by `tributary cluster init` elect without every voter up; a single node with data
// given a cluster block leads two initialised empty nodes, which catch up with everything it held;
// a member whose data directory was deleted and not initialised again still waits for the epoch.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { startCliNode } from '../helpers/cli.js';
import { startReplicas, storedValues, waitForLeader, waitForReplicated, type Replica, publishAll } from '../helpers/replicas.js';
import { pollUntil } from '../helpers/wait-for.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function assertHolds(replicas: readonly Replica[], payloads: readonly string[]): void {
  for (const r of replicas) {
    const held = new Set(storedValues(r));
    assert.deepEqual(payloads.filter((p) => !held.has(p)), [], `${r.id} lacks acknowledged messages`);
  }
}

test('three initialised nodes, one never started: the other two elect a leader and acknowledge', async (t) => {
  const replicas = await startReplicas(t, 3, { start: ['n1', 'n2'] });
  const two = replicas.slice(0, 2);
  const leader = await waitForLeader(two);
  const acked = await publishAll(leader.mqttPort, 'two-of-three', 20);
  await waitForReplicated(two, (await leader.status())!.last.seq);
  assertHolds(two, acked);
});

test('the single-node upgrade: a node with data restarted with a cluster block beside two initialised empty nodes leads, and they catch up with everything it held', async (t) => {
  const replicas = await startReplicas(t, 3, { init: ['n2', 'n3'], start: [] });
  const [n1, n2, n3] = replicas as [Replica, Replica, Replica];
  // n1 as it ran before: one node, no cluster block, on its own data directory.
  const single = await startCliNode(t, n1.dir, n1.mqttPort);
  const before = await publishAll(n1.mqttPort, 'single', 50);
  await single.stop();

  // The documented order: the node with data first, then the new nodes.
  await n1.restart();
  await n2.restart();
  assert.equal(await waitForLeader([n1, n2]), n1, 'the node with data leads');
  await n3.restart();
  const after = await publishAll(n1.mqttPort, 'clustered', 20);
  await waitForReplicated(replicas, (await n1.status())!.last.seq);
  assertHolds(replicas, [...before, ...after]);
  assert.match(n1.output(), /"role":"leader"/);
  assert.doesNotMatch(n2.output() + n3.output(), /no initialised cluster\.db/, 'the initialised nodes are not taken for wiped ones');
});

test('the upgrade in the wrong order: two initialised empty nodes elect first; the node with data then refuses to truncate what it acknowledged alone (TRIB_CLUSTER_SINGLE_NODE_DIVERGED) and keeps it', async (t) => {
  const replicas = await startReplicas(t, 3, { init: ['n2', 'n3'], start: [] });
  const [n1, n2, n3] = replicas as [Replica, Replica, Replica];
  const single = await startCliNode(t, n1.dir, n1.mqttPort);
  const before = await publishAll(n1.mqttPort, 'single', 30);
  await single.stop();

  await n2.restart();
  await n3.restart();
  await waitForLeader([n2, n3]);
  await n1.restart();
  await pollUntil(() => n1.output().includes('TRIB_CLUSTER_SINGLE_NODE_DIVERGED'));
  assert.match(n1.output(), /TRIB_CLUSTER_SINGLE_NODE_DIVERGED/, n1.output().slice(-3000));
  assertHolds([n1], before);
  assert.equal((await n1.status())!.truncations, 0);
});

test('a member whose data directory was deleted and not initialised again waits, with a line saying how a new node is initialised, until every voter or a leader tells it the epoch', async (t) => {
  const replicas = await startReplicas(t, 3, { electionTimeoutMs: 500 });
  const [n1, n2, n3] = replicas as [Replica, Replica, Replica];
  const leader = await waitForLeader(replicas);
  const acked = await publishAll(leader.mqttPort, 'before-wipe', 20);
  await waitForReplicated(replicas, (await leader.status())!.last.seq);
  for (const r of replicas) await r.kill();
  rmSync(n3.dir, { recursive: true, force: true });

  // n2 (with the data) and the wiped n3; n1 stays down. n3 must not vote (it may have voted in
  // n2's next epoch before the wipe, for n1): no leader for some elections' time (bounded).
  await n2.restart();
  await n3.restart();
  assert.match(n3.output(), /taken for a member whose disk was wiped.*tributary cluster init --config FILE/);
  for (let i = 0; i < 40; i++) {
    const statuses = await Promise.all([n2.status(), n3.status()]);
    assert.ok(statuses.every((s) => s?.role !== 'leader'), `a leader without n1: ${JSON.stringify(statuses)}`);
    await sleep(100);
  }
  // n1 returns: every voter answers n3 (or a leader is elected by n1 and n2), and n3 catches up.
  await n1.restart();
  const next = await waitForLeader(replicas);
  await waitForReplicated(replicas, (await next.status())!.last.seq);
  assertHolds(replicas, acked);
});

test('a follower wiped and initialised again (a new directory id) is not counted as the voter it was: with the leader killed, it and a lagging node elect nobody; the old leader returns, leads, and nothing acknowledged is lost', async (t) => {
  const replicas = await startReplicas(t, 3, { electionTimeoutMs: 500 });
  const leader = await waitForLeader(replicas);
  const [lagging, wiped] = replicas.filter((r) => r !== leader) as [Replica, Replica];
  const first = await publishAll(leader.mqttPort, 'all-three', 20);
  await waitForReplicated(replicas, (await leader.status())!.last.seq);
  const formerDirectory = (await wiped.status())!.directoryId;

  // Acknowledged by the leader and `wiped` alone: `lagging` lacks these.
  await lagging.kill();
  const second = await publishAll(leader.mqttPort, 'without-lagging', 30);
  await leader.kill();
  await wiped.kill();
  rmSync(wiped.dir, { recursive: true, force: true });
  wiped.init();

  // `wiped` is new to itself, but `lagging` knows it under its former directory id: its vote
  // request names that id, and `wiped` refuses it (else `lagging` leads and the 30 are lost).
  await lagging.restart();
  await wiped.restart();
  for (let i = 0; i < 40; i++) {
    const statuses = await Promise.all([lagging.status(), wiped.status()]);
    assert.ok(statuses.every((s) => s?.role !== 'leader'), `a leader without the one that holds every acknowledged message: ${JSON.stringify(statuses)}`);
    await sleep(100);
  }
  assert.notEqual((await wiped.status())!.directoryId, formerDirectory);
  assert.match(wiped.output(), /a peer knows this node under another data directory/);

  await leader.restart();
  assert.equal(await waitForLeader(replicas), leader, 'the node with every acknowledged message leads');
  await waitForReplicated(replicas, (await leader.status())!.last.seq);
  assertHolds(replicas, [...first, ...second]);
  // Caught up, `wiped` counts again under its new directory id, and knows it.
  for (let i = 0; i < 100; i++) {
    const follower = (await leader.status())!.followers.find((f) => f.id === wiped.id);
    if (follower?.newDirectory === false && follower.directoryId === (await wiped.status())!.directoryId && (await wiped.status())!.directoryReplaced === false) return;
    await sleep(50);
  }
  assert.fail(`the leader does not count the re-initialised node: ${JSON.stringify(await leader.status())} ${JSON.stringify(await wiped.status())}`);
});
