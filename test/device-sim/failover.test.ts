// `tributary sim` with several gateways (--url list), as a user runs it (a child process), against
// real servers: a refused port, a server answering CONNACK 3 (a cluster's follower), one that takes
// QoS 1 messages and dies without acknowledging them, and a real Tributary node. The devices move
// on until they reach the node; what was in flight is sent again there, so every message the sim
// counts acknowledged is in the node's log, and the resends are reported.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import type { Log } from '../../broker/log/log.js';
import { retryDelayMs, FAILOVER_MS, RECONNECT_MS, MAX_RECONNECT_MS } from '../../device-sim/failover.js';
import type { SimSummary } from '../../device-sim/stats.js';
import { CLI } from '../helpers/cli.js';
import { startTestNode } from '../helpers/mqtt-node.js';
import { blackHoleServer, connack3Server, refusingUrl } from '../helpers/stand-in-brokers.js';

function sim(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'sim', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** `device/seq` of every record in the log's mqtt topic. */
function storedKeys(log: Log): string[] {
  const keys: string[] = [];
  for (let partition = 0; partition < log.partitionCount('mqtt'); partition++) {
    for (let offset = 0; ; ) {
      const read = log.read('mqtt', partition, offset, { maxRecords: 10_000, maxBytes: 1e9 });
      for (const r of read.records) {
        const body = JSON.parse(r.value!.toString()) as { device: string; seq: number };
        keys.push(`${body.device}/${body.seq}`);
      }
      if (read.records.length === 0 || read.nextOffset >= read.logEndOffset) break;
      offset = read.nextOffset;
    }
  }
  return keys;
}

test('round-robin with backoff: the next address at once within a round, then waits doubling to a cap', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 9, 12, 30].map((f) => retryDelayMs(f, 3)), [FAILOVER_MS, FAILOVER_MS, RECONNECT_MS, FAILOVER_MS, FAILOVER_MS, 2 * RECONNECT_MS, 4 * RECONNECT_MS, MAX_RECONNECT_MS, MAX_RECONNECT_MS]);
  assert.deepEqual([1, 2, 3].map((f) => retryDelayMs(f, 1)), [RECONNECT_MS, 2 * RECONNECT_MS, 4 * RECONNECT_MS]);
});

test('--url list: past a refused port and a CONNACK 3, to the node; every acknowledged message is stored', async (t) => {
  const { node, url } = await startTestNode(t);
  const refused = await refusingUrl(t);
  const follower = await connack3Server(t);
  const run = await sim(['--url', `${refused},${follower.url}`, '--url', url, '--devices', '4', '--rate', 'max', '--window', '10', '--count', '400', '--seed', '7', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout) as SimSummary;
  assert.equal(summary.acked, 400);
  assert.equal(summary.unacked, 0);
  assert.ok(follower.connects() >= 1, 'the follower was asked');
  assert.equal(summary.url, `${refused},${follower.url},${url}`);
  const keys = storedKeys(node.log);
  assert.equal(keys.length, 400);
  assert.equal(new Set(keys).size, 400);
});

test('a node that dies with QoS 1 messages in flight: they are sent again on the next node and counted as resent', async (t) => {
  const { node, url } = await startTestNode(t);
  const dying = await blackHoleServer(t, 5);
  const run = await sim(['--url', `${dying.url},${url}`, '--devices', '3', '--rate', 'max', '--window', '10', '--count', '300', '--seed', '8', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout) as SimSummary;
  assert.ok(dying.swallowed() >= 5, 'messages went to the dying node first');
  assert.ok(summary.resent >= 5, `resent ${summary.resent}`);
  assert.equal(summary.acked, 300);
  const keys = new Set(storedKeys(node.log));
  // The first messages went to the dying node only: the resends brought them here.
  assert.equal([...keys].filter((k) => k.endsWith('/0')).length, 3, "every device's first message is stored");
  assert.equal(keys.size, 300, 'all 300 messages stored');
});

test('--url list where no address takes the connection: one line naming each, exit 1', async (t) => {
  const refused = await refusingUrl(t);
  const follower = await connack3Server(t);
  const run = await sim(['--url', `${refused},${follower.url}`, '--count', '1']);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /^tributary sim: no broker of the 2 given took the connection: cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED.*; the broker at mqtt:\/\/127\.0\.0\.1:\d+ refused the connection: server unavailable \(CONNACK 3\)\n$/);
});

test('--raw with a --url list: each socket moves past a refused port and a CONNACK 3 to the node', async (t) => {
  const { node, url } = await startTestNode(t);
  const refused = await refusingUrl(t);
  const follower = await connack3Server(t);
  const run = await sim(['--raw', '--url', `${refused},${follower.url},${url}`, '--connections', '3', '--count', '300', '--json']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal((JSON.parse(run.stdout) as SimSummary).acked, 300);
  assert.equal(follower.connects(), 3);
  assert.equal(storedKeys(node.log).length, 300);
});
