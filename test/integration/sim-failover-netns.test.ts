// Devices that know two gateways, and the one they use is cut off silently (no RST, no CONNACK:
// packets vanish, as when a switch port or a cable dies): the cluster harness isolates node 0 in
// its namespace under load from `tributary sim --url n0,n1`. MQTT.js notices through its keepalive,
// moves to node 1 and sends again what node 0 never acknowledged. Every message the sim counts
// acknowledged is stored on one of the two; the resends are reported. (Two one-node gateways, not a
// cluster: the replication's own fault tests use the same harness.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { SimSummary } from '../../device-sim/stats.js';
import { CLI } from '../helpers/cli.js';
import { Network, skipUnlessNetns } from '../helpers/cluster/network.js';
import { CLUSTER_TOKEN, startNodes, type NodeProcess } from '../helpers/cluster/node-process.js';
import { readReplica } from '../helpers/cluster/replica.js';
import { tempDir } from '../helpers/temp-dir.js';

const skip = skipUnlessNetns();

async function storedKeys(node: NodeProcess): Promise<string[]> {
  const replica = await readReplica(`n${node.at.index}`, node.httpUrl, CLUSTER_TOKEN, 'mqtt', (value) => {
    const body = JSON.parse(value.toString()) as { device: string; seq: number };
    return `${body.device}/${body.seq}`;
  });
  return replica.records.map((r) => r.id!);
}

test('a silent cut of the node the devices use: they move to the other one, resend, and nothing acknowledged is lost', { skip }, async (t) => {
  const net = Network.create(t, 2);
  const [n0, n1] = await startNodes(t, net);
  const ackedOut = join(tempDir(t), 'acked.ndjson');
  const child = spawn(process.execPath, [CLI, 'sim', '--url', `${n0!.mqttUrl},${n1!.mqttUrl}`, '--devices', '3', '--rate', '20', '--keepalive', '2', '--count', '900', '--seed', '17', '--acked-out', ackedOut, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  t.after(() => void child.kill('SIGKILL'));

  // Cut node 0 off once it has some of the load.
  for (let i = 0; i < 600 && (await storedKeys(n0!)).length < 60; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  net.isolate(net.nodes[0]!);
  assert.equal(await exited, 0, stderr);
  const summary = JSON.parse(stdout) as SimSummary;
  net.heal(net.nodes[0]!);

  assert.equal(summary.acked, 900, 'every message acknowledged in the end');
  assert.ok(summary.reconnects >= 3, `each device reconnected (${summary.reconnects})`);
  assert.ok(summary.resent > 0, 'what was in flight on the dead connection was sent again');
  const stored = new Set([...(await storedKeys(n0!)), ...(await storedKeys(n1!))]);
  assert.ok((await storedKeys(n1!)).length > 0, 'node 1 took over');
  const lost: string[] = [];
  for (const line of readFileSync(ackedOut, 'utf8').trim().split('\n')) {
    const { device, acked } = JSON.parse(line) as { device: string; acked: Array<[number, number]> };
    for (const [from, to] of acked) for (let s = from; s <= to; s++) if (!stored.has(`${device}/${s}`)) lost.push(`${device}/${s}`);
  }
  assert.deepEqual(lost, []);
});
