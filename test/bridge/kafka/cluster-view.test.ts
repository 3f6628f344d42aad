// The cluster as Metadata shows it (bridge/kafka/cluster-view.ts, apis/metadata.ts): broker ids
// from the sorted node ids, the cluster's leader as every partition's leader, LEADER_NOT_AVAILABLE
// while none is known; over a real socket against a real log.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { brokerIds, clusterMetadata, type KafkaClusterView } from '../../../bridge/kafka/cluster-view.js';
import { ErrorCode } from '../../../bridge/kafka/protocol/error-codes.js';
import { Reader } from '../../../bridge/kafka/protocol/reader.js';
import { Writer } from '../../../bridge/kafka/protocol/writer.js';
import { KafkaServer } from '../../../bridge/kafka/server.js';
import { createLogger } from '../../../bridge/logger.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { RawKafka } from '../../helpers/raw-kafka.js';
import { tempDir } from '../../helpers/temp-dir.js';

function view(leader: string | null, inSync: string[] = ['b']): KafkaClusterView {
  return {
    selfId: 'b',
    members: [
      { id: 'c', kafka: '10.0.0.13:9092' },
      { id: 'a', kafka: '[fd00::1]:9092' },
    ],
    leaderId: () => leader,
    inSync: () => inSync,
  };
}

test('broker ids are the positions of the node ids sorted, the same from every node; the leader leads, or -1 when none or not listed', () => {
  assert.deepEqual([...brokerIds(view(null))], [['a', 0], ['b', 1], ['c', 2]]);
  assert.deepEqual(clusterMetadata(view('c', ['c', 'b']), { host: '10.0.0.12', port: 9092 }), {
    brokers: [
      { nodeId: 0, host: 'fd00::1', port: 9092 },
      { nodeId: 1, host: '10.0.0.12', port: 9092 },
      { nodeId: 2, host: '10.0.0.13', port: 9092 },
    ],
    leader: 2,
    replicas: [0, 1, 2],
    isr: [1, 2],
  });
  assert.equal(clusterMetadata(view(null), { host: 'h', port: 1 }).leader, -1);
  const unlisted: KafkaClusterView = { ...view('a'), members: [{ id: 'c', kafka: 'h:2' }, { id: 'a', kafka: null }] };
  const answer = clusterMetadata(unlisted, { host: 'h', port: 1 });
  assert.equal(answer.leader, -1, 'a leader whose Kafka address is unknown cannot be named');
  assert.deepEqual(answer.brokers.map((b) => b.nodeId), [1, 2]);
});

/** Metadata v1 for topic `mqtt`: brokers, controller, and each partition's error, leader, replicas and ISR. */
async function metadataV1(kafka: RawKafka) {
  kafka.send(3, 1, Buffer.concat(new Writer().array(['mqtt'], false, (w, name) => w.string(name, false)).chunks()));
  const r = new Reader((await kafka.response())!);
  r.int32(); // correlation id
  const brokers = r.array(false, (r) => {
    const broker = [r.int32(), r.string(false), r.int32()] as const;
    r.nullableString(false);
    return broker;
  });
  const controller = r.int32();
  const partitions = r.array(false, (r) => {
    r.int16();
    r.string(false);
    r.bool();
    return r.array(false, (r) => ({ error: r.int16(), index: r.int32(), leader: r.int32(), replicas: r.array(false, (r) => r.int32()), isr: r.array(false, (r) => r.int32()) }));
  })[0]!;
  return { brokers, controller, partitions };
}

test('Metadata on a follower names every node and the cluster leader; LEADER_NOT_AVAILABLE during an election', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'mqtt', partitions: 2 }] });
  onCleanup(t, () => log.close());
  let leader: string | null = 'c';
  const cluster: KafkaClusterView = { ...view(null, ['c', 'b']), leaderId: () => leader };
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections: 10, clusterId: 'site', log, logger: createLogger('silent'), cluster });
  onCleanup(t, () => server.close());
  const kafka = await RawKafka.open(t, server.port);

  const led = await metadataV1(kafka);
  assert.deepEqual(led.brokers, [[0, 'fd00::1', 9092], [1, '127.0.0.1', server.port], [2, '10.0.0.13', 9092]]);
  assert.equal(led.controller, 2);
  assert.deepEqual(led.partitions, [0, 1].map((index) => ({ error: ErrorCode.NONE, index, leader: 2, replicas: [0, 1, 2], isr: [1, 2] })));

  leader = null;
  const electing = await metadataV1(kafka);
  assert.deepEqual(electing.partitions.map((p) => [p.error, p.leader]), [[ErrorCode.LEADER_NOT_AVAILABLE, -1], [ErrorCode.LEADER_NOT_AVAILABLE, -1]]);
});

/** FindCoordinator v1 for group `g`: error, node id, host, port. */
async function findCoordinatorV1(kafka: RawKafka): Promise<[number, number, string, number]> {
  kafka.send(10, 1, Buffer.concat(new Writer().string('g', false).int8(0).chunks()));
  const r = new Reader((await kafka.response())!);
  r.int32(); // correlation id
  r.int32(); // throttle
  const error = r.int16();
  r.nullableString(false);
  return [error, r.int32(), r.string(false), r.int32()];
}

test('FindCoordinator on a follower names the cluster leader (its committed offsets replicate); COORDINATOR_NOT_AVAILABLE during an election', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'mqtt', partitions: 1 }] });
  onCleanup(t, () => log.close());
  let leader: string | null = 'c';
  const cluster: KafkaClusterView = { ...view(null), leaderId: () => leader };
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections: 10, clusterId: 'site', log, logger: createLogger('silent'), cluster });
  onCleanup(t, () => server.close());
  const kafka = await RawKafka.open(t, server.port);
  assert.deepEqual(await findCoordinatorV1(kafka), [ErrorCode.NONE, 2, '10.0.0.13', 9092]);
  leader = 'b';
  assert.deepEqual(await findCoordinatorV1(kafka), [ErrorCode.NONE, 1, '127.0.0.1', server.port]);
  leader = null;
  assert.deepEqual(await findCoordinatorV1(kafka), [ErrorCode.COORDINATOR_NOT_AVAILABLE, -1, '', -1]);
});
