// Replication under network and process faults (issue 17, docs/replication.md "How it is proven"):
// three `tributary start` nodes, one per network namespace, cluster.peers by the namespaces'
// addresses; publishers (MQTT.js, QoS 1 and QoS 2) that know every address publish numbered
// messages throughout; faults from the harness; after healing and a quiet period the checker reads
// every node's records:
// - no acknowledged message lost (invariant 2);
// - per publisher, the first copies in sending order ([MQTT-4.6.0-6]);
// - replicas identical below their high watermarks (invariant 3);
// - QoS 2 stored at most once per sending: a publisher whose connection ends before PUBCOMP sends
//   the message again on a new connection with a new client id and a clean session, a new message
//   for any server ([MQTT-3.1.2-6]), on the same node or another. Such duplicates are counted and
//   reported; more copies than sendings is a bug;
// - one acknowledging node per epoch, the one the epoch's start record names, in the epoch it said it
//   led when the publisher connected (invariant 1; test/helpers/cluster/epoch-checker.ts);
// (flapping links, slow disks and the central Kafka: cluster-faults-upstream.test.ts)
// - a leader cut off from its peers acknowledges nothing sent after the cut (invariant 4), steps
//   down (its role endpoint, still reachable by clients, says so), and the others elect a leader.
// Root only (the harness's namespaces); CI runs as root with REQUIRE_NETNS_TESTS=1. The seeded
// nemesis replays with FAULT_SEED (and FAULT_COUNT faults).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statusOf, waitForLeader } from '../helpers/cluster/cluster-status.js';
import { describeFault, faultSchedule, Nemesis } from '../helpers/cluster/nemesis.js';
import { skipUnlessNetns } from '../helpers/cluster/network.js';
import type { NodeProcess } from '../helpers/cluster/node-process.js';
import { progress } from '../helpers/cluster/publishers.js';
import { checkAll, nodeName as name, startCluster } from '../helpers/cluster/scenario.js';

const skip = skipUnlessNetns();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Waits (bounded) until a node that clients still reach says it no longer leads. */
async function waitForStepDown(node: NodeProcess): Promise<string> {
  let role: string | undefined;
  for (let i = 0; i < 600; i++) {
    role = (await statusOf(node))?.role;
    if (role !== undefined && role !== 'leader') return role;
    await sleep(100);
  }
  throw new Error(`${name(node)} still says ${role ?? 'nothing'}`);
}

test('a three-node cluster under faults: leader cut off from its peers, follower isolated, one-way loss, leader paused, leader killed, follower wiped; nothing acknowledged is lost, order kept, replicas identical', { skip }, async (t) => {
  const { net, nodes, publishers } = await startCluster(t);
  let leader = await waitForLeader(nodes);

  // 1. The leader cut off from its peers while the clients still reach it: it acknowledges nothing
  // sent after the cut (no follower can fetch it), steps down within its lease; the others elect.
  const cutOff = leader;
  const cutAt = Date.now();
  net.cutFromPeers(cutOff.at);
  leader = await waitForLeader(nodes.filter((n) => n !== cutOff));
  await waitForStepDown(cutOff);
  await progress(publishers, 40);
  const late = publishers.flatMap((p) => p.sent).filter((op) => op.attempts.some((a) => a.node === name(cutOff) && a.sentAt > cutAt && a.ackedAt !== null));
  assert.deepEqual(late.map((op) => op.id), [], `${name(cutOff)} acknowledged messages sent after it was cut off from its peers`);
  net.heal(cutOff.at);
  leader = await waitForLeader(nodes);
  await progress(publishers, 20);

  // 2. A follower isolated (clients and peers), then healed: the others go on; it catches up (checked at the end).
  const isolated = nodes.find((n) => n !== leader)!;
  net.isolate(isolated.at);
  await progress(publishers, 40);
  net.heal(isolated.at);
  await waitForLeader(nodes);

  // 3. One-way loss: half of what the leader sends to one follower, and of what the other follower sends to the leader.
  const [f1, f2] = nodes.filter((n) => n !== leader);
  net.lossTo(leader.at, f1!.at, 0.5);
  net.lossTo(f2!.at, leader.at, 0.5);
  await progress(publishers, 40);
  net.healAll();

  // 4. The leader SIGSTOPped until another leads, then SIGCONT: it follows the new one.
  leader = await waitForLeader(nodes);
  const paused = leader;
  await paused.pause();
  leader = await waitForLeader(nodes.filter((n) => n !== paused));
  await progress(publishers, 40);
  await paused.resume();
  leader = await waitForLeader(nodes);

  // 5. The leader SIGKILLed; another leads; the killed node restarts on its data and follows.
  const killed = leader;
  await killed.kill('SIGKILL');
  leader = await waitForLeader(nodes.filter((n) => n !== killed));
  await progress(publishers, 40);
  await killed.start();
  leader = await waitForLeader(nodes);

  // 6. A follower restarted with its data directory wiped (while the others have a leader): it copies the log again.
  const wiped = nodes.find((n) => n !== leader)!;
  await wiped.restart({ wipe: true });
  await progress(publishers, 40);

  await checkAll(t, nodes, publishers, 'faults in turn');
});

test('a leader restarted with its disk wiped while no leader is left: its empty vote does not elect a follower that lacks committed messages', { skip }, async (t) => {
  const { net, nodes, publishers } = await startCluster(t);
  const leader = await waitForLeader(nodes);
  const [behind, holder] = nodes.filter((n) => n !== leader);
  // The leader and `holder` commit messages that `behind` (isolated) does not get.
  net.isolate(behind!.at);
  await progress(publishers, 40);
  // `holder` paused, the leader wiped: of the two that hold the committed messages, one is silent, one forgot them.
  await holder!.pause();
  await leader.restart({ wipe: true });
  net.heal(behind!.at);
  // `behind` stands against the wiped node; give it some elections' time (bounded), then the holder returns.
  const before = (await statusOf(behind!))?.epoch ?? 0;
  for (let i = 0; i < 60; i++) {
    const s = await statusOf(behind!);
    if (s !== null && (s.role === 'leader' || s.epoch >= before + 3)) break;
    await sleep(100);
  }
  await holder!.resume();
  await waitForLeader(nodes);
  await progress(publishers, 20);
  await checkAll(t, nodes, publishers, 'wiped leader, lagging follower');
});

test('a seeded nemesis (FAULT_SEED replays it): faults one at a time under load, each healed; the checker finds nothing', { skip }, async (t) => {
  const seed = process.env.FAULT_SEED ?? 'ci-17';
  const count = Number(process.env.FAULT_COUNT ?? 6);
  const { net, nodes, publishers } = await startCluster(t);
  const nemesis = new Nemesis(net, nodes);
  t.diagnostic(`FAULT_SEED=${seed} FAULT_COUNT=${count}: ${faultSchedule(seed, count).map((f) => describeFault(f)).join('; ')}`);
  try {
    for (const fault of faultSchedule(seed, count)) {
      await waitForLeader(nodes);
      await nemesis.apply(fault);
      await progress(publishers, 30); // a majority is always left: the cluster must go on
      await nemesis.heal();
      await waitForLeader(nodes);
      await progress(publishers, 10);
    }
    await checkAll(t, nodes, publishers, `nemesis FAULT_SEED=${seed}`);
  } finally {
    t.diagnostic(`nemesis log: ${nemesis.log.join('; ')}`);
  }
});
