// The nemesis: a seed gives the same faults every time (a failure can be replayed), another seed
// others; every kind of fault really hits its node, and heal() brings every node back, serving,
// with its data (one-node nodes here: the replication's tests run it against a cluster).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, connectionRefusal } from '../mqtt-node.js';
import { readFileSync } from 'node:fs';
import { ALL_FAULT_KINDS, faultSchedule, FAULT_KINDS, FLAP_PERIODS_MS, Nemesis, type Fault } from './nemesis.js';
import { Network, skipUnlessNetns } from './network.js';
import { CLUSTER_TOKEN, startNodes, type NodeProcess } from './node-process.js';
import { readReplica } from './replica.js';
import { SlowDisk, slowDiskUnavailable } from './slow-disk.js';
import { PATIENCE_MS, pollUntil } from '../wait-for.js';

test('a seed gives the same schedule of faults; another seed another; every kind can come up', () => {
  assert.deepEqual(faultSchedule(42, 20), faultSchedule(42, 20));
  assert.notDeepEqual(faultSchedule(42, 20), faultSchedule(43, 20));
  assert.deepEqual(new Set(faultSchedule(1, 200).map((f) => f.kind)), new Set(FAULT_KINDS));
  assert.ok(faultSchedule(7, 50, ['pause']).every((f) => f.kind === 'pause'));
  const all = faultSchedule(1, 400, ALL_FAULT_KINDS);
  assert.deepEqual(new Set(all.map((f) => f.kind)), new Set(ALL_FAULT_KINDS));
  assert.ok(all.every((f) => f.kind !== 'flap' || FLAP_PERIODS_MS.includes(f.periodMs)));
});

const serves = async (node: NodeProcess, timeoutMs: number): Promise<boolean> => (await connectionRefusal(node.mqttUrl, { connectTimeout: timeoutMs })) === 'connected';
const stored = async (node: NodeProcess): Promise<number> => (await readReplica('n', node.httpUrl, CLUSTER_TOKEN, 'mqtt', () => null)).records.length;

test('each fault hits its node; heal brings every node back with its data', { skip: skipUnlessNetns() }, async (t) => {
  const net = Network.create(t, 2);
  const nodes = await startNodes(t, net);
  const nemesis = new Nemesis(net, nodes);
  for (const node of nodes) {
    const client = await connect(t, node.mqttUrl, { connectTimeout: 30_000 });
    await client.publishAsync('nemesis/kept', 'kept', { qos: 1 });
    await client.endAsync();
  }

  const faults: Fault[] = [
    { kind: 'kill', target: 0 },
    { kind: 'pause', target: 1 },
  ];
  for (const fault of faults) await nemesis.apply(fault);
  assert.equal(nodes[0]!.running, false, 'killed');
  assert.equal(await serves(nodes[1]!, 2000), false, 'paused: no CONNACK');
  await nemesis.heal();
  for (const node of nodes) assert.equal(await serves(node, 30_000), true);
  assert.equal(await stored(nodes[0]!), 1, 'the killed node restarted on its data');

  // Without a cluster there is no leader: 'leader' is node 0, 'follower' node 1.
  assert.equal((await nemesis.apply({ kind: 'isolate', target: 'leader', direction: 'both' })).at.index, 0);
  assert.equal((await nemesis.apply({ kind: 'loss', target: 'follower', share: 1 })).at.index, 1);
  assert.equal(await serves(nodes[0]!, 2000), false, 'isolated');
  await nemesis.heal();
  for (const node of nodes) assert.equal(await serves(node, 30_000), true);

  // restart-wiped: the node is back at once, with an empty log.
  assert.equal(await stored(nodes[1]!), 1);
  await nemesis.apply({ kind: 'restart-wiped', target: 1 });
  assert.equal(await serves(nodes[1]!, 30_000), true);
  assert.equal(await stored(nodes[1]!), 0);
  assert.deepEqual(nemesis.log, ['kill node 0', 'pause node 1', 'heal', 'isolate the leader (node 0) (both)', 'loss the follower (node 1) (100 %)', 'heal', 'restart-wiped node 1']);
});

test('a flapping link is cut and healed in turn until heal; a slow disk throttles the node\'s writes until heal', { skip: skipUnlessNetns() || slowDiskUnavailable() || false }, async (t) => {
  const net = Network.create(t, 2);
  const nodes = await startNodes(t, net, () => ({ log: { durability: 'fsync' } }));
  const disk = SlowDisk.create(t, 'nemesis', nodes[0]!.dataDir);
  const nemesis = new Nemesis(net, nodes, disk);
  const dropRules = (): number => (net.exec(net.nodes[0]!, ['nft', 'list', 'chain', 'inet', 'trbfault', 'output']).match(/ drop/g) ?? []).length;

  await nemesis.apply({ kind: 'flap', target: 0, periodMs: 100 });
  const seen = new Set<number>();
  await pollUntil(() => seen.add(dropRules() > 0 ? 1 : 0).size === 2, PATIENCE_MS, 20);
  assert.deepEqual([...seen].sort(), [0, 1], 'the link was not seen both cut and healed');
  await nemesis.heal();
  assert.equal(dropRules(), 0, 'heal leaves the link cut');
  assert.match(nemesis.log.at(-2)!, /^\(node 0 cut and healed \d+ times\)$/);

  await nemesis.apply({ kind: 'slow-disk', target: 0, writeIops: 5 });
  assert.ok(disk.holds(nodes[0]!.pid!), 'the node is in the throttled group');
  const before = disk.writes();
  const client = await connect(t, nodes[0]!.mqttUrl, { connectTimeout: 30_000 });
  for (let i = 0; i < 3; i++) await client.publishAsync('nemesis/slow', `m${i}`, { qos: 1 });
  await client.endAsync();
  assert.ok(disk.writes() > before, 'the node\'s fsynced writes did not pass through the throttle');
  await nemesis.heal();
  assert.equal(disk.holds(nodes[0]!.pid!), false, 'heal leaves the node in the throttled group');
  const cgroupV1 = /^\d+:blkio:(.*)$/m.exec(readFileSync(`/proc/${nodes[0]!.pid!}/cgroup`, 'utf8'))?.[1];
  if (disk.cgroupVersion === 1) assert.equal(cgroupV1, '/', 'heal puts the node back in the root group');
  assert.equal(await stored(nodes[0]!), 3);
});
