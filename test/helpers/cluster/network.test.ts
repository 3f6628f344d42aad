// The fault-injection harness itself, as root: namespaces reach each other through the bridge;
// a cut link really drops traffic (an MQTT connection across it does not come up) while other
// links and the clients still work, and healing restores it; a cut-off node and a paused process
// answer nobody; netem delay and a tbf rate limit are observable; a restarted node keeps its data
// unless wiped; nothing is left behind by a failing test or a killed one.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { fixture } from '../child.js';
import { connectionRefusal } from '../mqtt-node.js';
import { tempDir } from '../temp-dir.js';
import { Network, hasNetem, ownedByThisProcess, removeStale, sh, skipUnlessNetns, type NetNode } from './network.js';
import { CLUSTER_TOKEN, startNodes, type NodeProcess } from './node-process.js';
import { readReplica } from './replica.js';

const skip = skipUnlessNetns();

/** mosquitto_pub run inside `from`'s namespace against `to`: its exit status (124: timed out). */
function publishFrom(net: Network, from: NetNode, to: NodeProcess, message: string, seconds: number, file?: string): number {
  const payload = file === undefined ? ['-m', message] : ['-f', file];
  const argv = net.wrap(from, ['timeout', String(seconds), 'mosquitto_pub', '-h', to.at.address, '-p', '1883', '-q', '1', '-i', `from-${from.index}-${message}`, '-t', `harness/${message}`, ...payload]);
  return spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore' }).status ?? -1;
}

/** The messages a node stored, read from the test process through its HTTP API. */
async function stored(node: NodeProcess): Promise<string[]> {
  const replica = await readReplica(`n${node.at.index}`, node.httpUrl, CLUSTER_TOKEN, 'mqtt', (v) => v.toString());
  return replica.records.map((r) => r.id!);
}

const REACHABLE_S = 60; // a healthy link answers long before this, however loaded the machine
const CUT_S = 3; // across a cut link nothing can answer, however long we wait

test('namespaces reach each other; a cut link drops traffic both ways until healed, other links unaffected', { skip }, async (t) => {
  const net = Network.create(t, 3);
  const [n0, n1, n2] = await startNodes(t, net);
  const [a0, a1] = [net.nodes[0]!, net.nodes[1]!];

  assert.equal(publishFrom(net, a0, n1!, 'before', REACHABLE_S), 0, 'n0 reaches n1');
  net.cutLink(a0, a1);
  assert.equal(publishFrom(net, a0, n1!, 'during', CUT_S), 124, 'n0 -> n1 is cut');
  assert.equal(publishFrom(net, a1, n0!, 'during-back', CUT_S), 124, 'n1 -> n0 is cut too');
  assert.equal(publishFrom(net, a0, n2!, 'around', REACHABLE_S), 0, 'n0 still reaches n2');
  assert.equal(await connectionRefusal(n1!.mqttUrl, { connectTimeout: REACHABLE_S * 1000 }), 'connected', 'clients still reach n1');
  net.heal(a0);
  assert.equal(publishFrom(net, a0, n1!, 'after', REACHABLE_S), 0, 'healed');
  assert.deepEqual(await stored(n1!), ['before', 'after']);
  assert.deepEqual(await stored(n2!), ['around']);
});

test('a one-way cut: what n0 sends to n1 is dropped, so no TCP connection comes up either way', { skip }, async (t) => {
  const net = Network.create(t, 2);
  const [n0, n1] = await startNodes(t, net);
  net.cutLink(net.nodes[0]!, net.nodes[1]!, 'out');
  assert.equal(publishFrom(net, net.nodes[0]!, n1!, 'one-way', CUT_S), 124);
  // n1's SYN reaches n0, n0's SYN-ACK is dropped.
  assert.equal(publishFrom(net, net.nodes[1]!, n0!, 'one-way-back', CUT_S), 124);
  net.heal(net.nodes[0]!);
  assert.equal(publishFrom(net, net.nodes[1]!, n0!, 'healed', REACHABLE_S), 0);
});

test('an isolated node answers no client until healed', { skip }, async (t) => {
  const net = Network.create(t, 1);
  const [n0] = await startNodes(t, net);
  net.isolate(net.nodes[0]!);
  assert.notEqual(await connectionRefusal(n0!.mqttUrl, { connectTimeout: CUT_S * 1000 }), 'connected');
  net.heal(net.nodes[0]!);
  assert.equal(await connectionRefusal(n0!.mqttUrl, { connectTimeout: REACHABLE_S * 1000 }), 'connected');
});

test('process faults: a SIGSTOPped node answers no CONNACK until SIGCONT; a restart keeps the data dir, a wiped one does not', { skip }, async (t) => {
  const net = Network.create(t, 2);
  const [n0, n1] = await startNodes(t, net);
  assert.equal(publishFrom(net, net.nodes[1]!, n0!, 'kept', REACHABLE_S), 0);
  await n0!.pause();
  assert.notEqual(await connectionRefusal(n0!.mqttUrl, { connectTimeout: CUT_S * 1000 }), 'connected');
  await n0!.resume();
  assert.equal(await connectionRefusal(n0!.mqttUrl, { connectTimeout: REACHABLE_S * 1000 }), 'connected');
  const pid = n0!.pid;
  await n0!.restart();
  assert.notEqual(n0!.pid, pid);
  assert.deepEqual(await stored(n0!), ['kept']);
  await n0!.restart({ wipe: true });
  assert.deepEqual(await stored(n0!), []);
  assert.ok(n1!.running);
});

/** Milliseconds to open a TCP connection from the test process to a node's MQTT port. */
async function connectMs(address: string): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const socket = tcpConnect(1883, address);
    socket.once('connect', () => (socket.destroy(), resolve()));
    socket.once('error', reject);
  });
  return performance.now() - started;
}

test('netem delay on a node is observable where the kernel has sch_netem, and refused with its cause where not', { skip }, async (t) => {
  const net = Network.create(t, 1);
  await startNodes(t, net);
  if (!hasNetem(net)) {
    // Some VM kernels (this project's CI among them) are built without netem: a delay fault must
    // then fail loudly, never pass as a no-op.
    assert.throws(() => net.netem(net.nodes[0]!, { delayMs: 400 }), /sch_netem/);
    return;
  }
  net.netem(net.nodes[0]!, { delayMs: 400 });
  // A lower bound only: a loaded machine makes it slower, never faster.
  assert.ok((await connectMs(net.nodes[0]!.address)) >= 400);
  net.heal(net.nodes[0]!);
});

test('a rate-limited node is observable: a 96 KB publish at 256 kbit/s cannot take less than 2 s', { skip }, async (t) => {
  const net = Network.create(t, 2);
  const [, n1] = await startNodes(t, net);
  const file = join(tempDir(t), 'payload');
  writeFileSync(file, Buffer.alloc(96 * 1024, 'x'));
  const timed = (): number => {
    const started = performance.now();
    assert.equal(publishFrom(net, net.nodes[0]!, n1!, 'big', REACHABLE_S, file), 0);
    return performance.now() - started;
  };
  net.rateLimit(net.nodes[0]!, 256);
  // 96 KiB = 786 kbit, less a 4 KB burst: over 2.9 s at 256 kbit/s. A lower bound only.
  assert.ok(timed() >= 2000, 'the rate limit shapes what n0 sends');
});

test('loss: lossOut(1) drops everything a node sends, lossOut(0) nothing', { skip }, async (t) => {
  const net = Network.create(t, 2);
  const [, n1] = await startNodes(t, net);
  net.lossOut(net.nodes[0]!, 1);
  assert.equal(publishFrom(net, net.nodes[0]!, n1!, 'lost', CUT_S), 124);
  net.heal(net.nodes[0]!);
  net.lossOut(net.nodes[0]!, 0);
  assert.equal(publishFrom(net, net.nodes[0]!, n1!, 'kept', REACHABLE_S), 0);
  // A fifth of the packets: TCP retransmits, so the publish still arrives.
  net.lossOut(net.nodes[0]!, 0.2);
  assert.equal(publishFrom(net, net.nodes[0]!, n1!, 'lossy', REACHABLE_S), 0);
  assert.deepEqual(await stored(n1!), ['kept', 'lossy']);
});

test('nothing is left behind: by a failing test (t.after runs), and by a killed one (removed by the next run)', { skip }, async () => {
  const runFixture = (mode: string): { made: string[]; pid: number; exited: Promise<number | null>; kill: () => void } & { ready: Promise<void> } => {
    const child = spawn(process.execPath, ['--test-reporter=dot', fixture('cluster-network.js'), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    const result = { made: [] as string[], pid: 0, exited: new Promise<number | null>((r) => child.on('close', r)), kill: () => child.kill('SIGKILL'), ready: Promise.resolve() };
    result.ready = new Promise<void>((resolve) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const line = /\{"pid".*\}/.exec(out);
        if (line !== null) {
          Object.assign(result, JSON.parse(line[0]) as { pid: number; made: string[] });
          resolve();
        }
      });
    });
    return result;
  };
  const exists = (names: string[]): string[] => {
    const now = `${sh('ip', ['netns', 'list'])}\n${sh('ip', ['-o', 'link', 'show'])}`;
    return names.filter((n) => new RegExp(`(^|[\\s:])${n}[\\s:@]`, 'm').test(now));
  };

  const failing = runFixture('fail');
  await failing.ready;
  assert.notEqual(await failing.exited, 0);
  assert.equal(failing.made.length, 2 + 2 + 1, 'two namespaces, two veth ends, a bridge');
  assert.deepEqual(exists(failing.made), []);

  const killed = runFixture('hang');
  await killed.ready;
  killed.kill();
  await killed.exited;
  // What it leaves (its namespaces at least; a veth end can go with its peer) is there for removeStale.
  assert.ok(exists(killed.made).some((name) => name.endsWith('-n0')), 'a killed run leaves its namespaces behind');
  const removed = removeStale();
  for (const name of killed.made) assert.ok(removed.includes(name) || !exists([name]).length, `${name} removed`);
  assert.deepEqual(exists(killed.made), []);
  assert.deepEqual(ownedByThisProcess(), []);
});
