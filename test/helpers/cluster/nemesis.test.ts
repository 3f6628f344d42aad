// The nemesis: a seed gives the same faults every time (a failure can be replayed), another seed
// others; every kind of fault really hits its node, and heal() brings every node back, serving,
// with its data (one-node nodes here: the replication's tests run it against a cluster).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, connectionRefusal } from '../mqtt-node.js';
import { faultSchedule, FAULT_KINDS, Nemesis, type Fault } from './nemesis.js';
import { Network, skipUnlessNetns } from './network.js';
import { CLUSTER_TOKEN, startNodes, type NodeProcess } from './node-process.js';
import { readReplica } from './replica.js';

test('a seed gives the same schedule of faults; another seed another; every kind can come up', () => {
  assert.deepEqual(faultSchedule(42, 20), faultSchedule(42, 20));
  assert.notDeepEqual(faultSchedule(42, 20), faultSchedule(43, 20));
  assert.deepEqual(new Set(faultSchedule(1, 200).map((f) => f.kind)), new Set(FAULT_KINDS));
  assert.ok(faultSchedule(7, 50, ['pause']).every((f) => f.kind === 'pause'));
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
