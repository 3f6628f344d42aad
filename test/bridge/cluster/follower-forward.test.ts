// A follower's forwarding of MQTT publishes to the leader (cluster.followers: forward), against a
// real replication listener standing in for the leader: what goes out, in what order, and what a
// failed forward does to what waits behind it.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import pino from 'pino';
import { Log } from '../../../broker/log/log.js';
import { decodeBatch } from '../../../broker/log/record-batch.js';
import { FollowerForward, leaderAppends, type ForwardView } from '../../../bridge/cluster/follower-forward.js';
import { API_FORWARD, decodeForward, encodeForwardResponse, FORWARD_NOT_LEADER, FORWARD_STORED, type ForwardRequest } from '../../../bridge/cluster/forward-messages.js';
import { Writer, type Reader } from '../../../bridge/cluster/messages.js';
import { ReplicationServer } from '../../../bridge/cluster/transport.js';
import { makeRecords } from '../../helpers/records.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { pollUntil } from '../../helpers/wait-for.js';

/** A stand-in leader 'L': every forward it gets is recorded and answered by `answer`. */
async function standInLeader(t: TestContext, answer: (request: ForwardRequest, n: number) => Promise<Writer>): Promise<{ port: number; requests: ForwardRequest[] }> {
  const requests: ForwardRequest[] = [];
  const server = await ReplicationServer.start({
    host: '127.0.0.1',
    port: 0,
    maxBytes: 1 << 20,
    logger: pino({ level: 'silent' }),
    handler: (apiKey: number, body: Reader) => {
      assert.equal(apiKey, API_FORWARD);
      const request = decodeForward(body);
      requests.push(request);
      return answer(request, requests.length);
    },
  });
  t.after(() => server.close());
  return { port: server.port, requests };
}

async function forwarder(t: TestContext, port: number, node: ForwardView = { role: 'follower', epoch: 3, leaderId: 'L' }): Promise<FollowerForward> {
  const log = await Log.open({ dataDir: tempDir(t) });
  t.after(() => log.close());
  const forward = new FollowerForward({ nodeId: 'f', log, node, peers: [{ id: 'L', address: `127.0.0.1:${port}` }], tls: null, maxBytes: 1 << 19, timeoutMs: 30_000, logger: pino({ level: 'silent' }) });
  t.after(() => forward.close());
  return forward;
}

const stored = (baseOffset: number): Writer => encodeForwardResponse(new Writer(), { error: FORWARD_STORED, epoch: 3, leaderId: 'L', baseOffset, message: null });

test('forwards carry the follower id and epoch; what queues behind one in flight goes as one request, each getting its own offsets', async (t) => {
  let release: (() => void) | null = null;
  const leader = await standInLeader(t, (request, n) => (n === 1 ? new Promise((resolve) => (release = () => resolve(stored(10)))) : Promise.resolve(stored(12))));
  const forward = await forwarder(t, leader.port);
  const first = forward.append('mqtt', 0, makeRecords(2, 'a'));
  await pollUntil(() => release !== null);
  const second = forward.append('mqtt', 0, makeRecords(1, 'b'));
  const third = forward.append('mqtt', 0, makeRecords(3, 'c'));
  release!();
  assert.deepEqual([(await first).baseOffset, (await second).baseOffset, (await third).baseOffset, (await third).lastOffset], [10, 12, 13, 15]);
  assert.equal(leader.requests.length, 2, 'the two that waited went together');
  assert.deepEqual(
    leader.requests.map((r) => ({ replicaId: r.replicaId, epoch: r.epoch, topic: r.topic, partition: r.partition, records: decodeBatch(r.batch).records.length })),
    [
      { replicaId: 'f', epoch: 3, topic: 'mqtt', partition: 0, records: 2 },
      { replicaId: 'f', epoch: 3, topic: 'mqtt', partition: 0, records: 4 },
    ],
  );
  assert.equal(forward.forwarded, 6);
});

test('a forward that fails (the leader drops the connection: stored or not, unknown) fails what waits behind it too, unsent, so nothing is stored out of order', async (t) => {
  let drop: (() => void) | null = null;
  const leader = await standInLeader(t, (_request, n) => (n === 1 ? new Promise((_resolve, reject) => (drop = () => reject(new Error('leader gone')))) : Promise.resolve(stored(0))));
  const forward = await forwarder(t, leader.port);
  const first = forward.append('mqtt', 0, makeRecords(1, 'a'));
  await pollUntil(() => drop !== null);
  const behind = forward.append('mqtt', 0, makeRecords(1, 'b'));
  drop!();
  await assert.rejects(first, { code: 'TRIB_CLUSTER_FORWARD_FAILED' });
  await assert.rejects(behind, { code: 'TRIB_CLUSTER_FORWARD_FAILED' });
  assert.equal(leader.requests.length, 1, 'what waited behind the failed forward was not sent');
  assert.equal(forward.failures, 1);
  // The next forward goes again (a new connection).
  assert.equal((await forward.append('mqtt', 0, makeRecords(1, 'c'))).baseOffset, 0);
});

test('a NOT_LEADER answer fails the forward (its publishers send again); QoS 2 (an idempotence key) is refused without a request', async (t) => {
  const leader = await standInLeader(t, async () => encodeForwardResponse(new Writer(), { error: FORWARD_NOT_LEADER, epoch: 4, leaderId: 'M', baseOffset: -1, message: null }));
  const forward = await forwarder(t, leader.port);
  await assert.rejects(forward.append('mqtt', 1, makeRecords(1)), { code: 'TRIB_CLUSTER_FORWARD_FAILED' });
  await assert.rejects(forward.append('mqtt', 1, makeRecords(1), { idempotenceKey: { producer: 'sensor', sequence: 1 } }), { code: 'TRIB_CLUSTER_FORWARD_REFUSED' });
  assert.equal(leader.requests.length, 1);
});

test('with no leader known (an election) a forward fails at once, without a request', async (t) => {
  const leader = await standInLeader(t, async () => stored(0));
  const forward = await forwarder(t, leader.port, { role: 'candidate', epoch: 4, leaderId: null });
  await assert.rejects(forward.append('mqtt', 0, makeRecords(1)), { code: 'TRIB_CLUSTER_FORWARD_FAILED' });
  assert.equal(leader.requests.length, 0);
});

test('a topic a mapping rule names and nobody created: the follower has the leader create it (no records), and counts its partitions until its fetch brings it; the leader creates it once and appends', async (t) => {
  const leaderLog = await Log.open({ dataDir: tempDir(t) });
  t.after(() => leaderLog.close());
  const append = leaderAppends(leaderLog);
  const leader = await standInLeader(t, async (request) => stored(await append(request)));
  const forward = await forwarder(t, leader.port);
  assert.throws(() => forward.partitionCount('telemetry'), { code: 'TRIB_UNKNOWN_TOPIC' });
  await forward.createTopic('telemetry', 3);
  assert.equal(forward.partitionCount('telemetry'), 3);
  assert.equal(leaderLog.partitionCount('telemetry'), 3);
  await forward.createTopic('telemetry', 3);
  assert.equal((await forward.append('telemetry', 2, makeRecords(2))).baseOffset, 0);
  assert.equal((await forward.append('telemetry', 2, makeRecords(1))).baseOffset, 2);
  assert.deepEqual(leader.requests.map((r) => [r.createPartitions, r.batch.length === 0 ? 0 : decodeBatch(r.batch).records.length]), [[3, 0], [3, 0], [0, 2], [0, 1]]);
});
