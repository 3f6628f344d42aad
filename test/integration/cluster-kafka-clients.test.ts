// Kafka clients and a replicated cluster (docs/replication.md, Clients): three real `tributary
// start` nodes with their Kafka endpoints on loopback. Metadata on any node names every node as a
// broker and the cluster's leader as the leader of every partition, so a producer given only a
// follower's address produces to the leader, and after the leader is SIGKILLed, to the next one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Producer, stringSerializers } from '@platformatic/kafka';
import { onCleanup } from '../helpers/cleanup.js';
import { startReplicas, storedValues, waitForLeader, type Replica } from '../helpers/replicas.js';

const run = promisify(execFile);

interface KcatMetadata {
  brokers: { id: number; name: string }[];
  topics: { topic: string; partitions: { partition: number; leader: number; replicas: { id: number }[]; isrs: { id: number }[] }[] }[];
}

/** Metadata as librdkafka reads it from `replica` alone. */
async function metadataFrom(replica: Replica): Promise<KcatMetadata> {
  const { stdout } = await run('kcat', ['-L', '-J', '-b', `127.0.0.1:${replica.kafkaPort}`, '-t', 'mqtt'], { timeout: 30_000 });
  return JSON.parse(stdout) as KcatMetadata;
}

/** Broker ids: the position of each node's id among all ids, sorted (n1, n2, n3 -> 0, 1, 2). */
const brokerId = (replica: Replica): number => Number(replica.id.slice(1)) - 1;

test('a producer given only a follower address produces to the leader, and after a SIGKILL of the leader to the new one; Metadata on a follower names the leader', async (t) => {
  const replicas = await startReplicas(t, 3, { kafka: true });
  const leader = await waitForLeader(replicas);
  const follower = replicas.find((r) => r !== leader)!;

  const metadata = await metadataFrom(follower);
  assert.deepEqual(
    metadata.brokers.map((b) => [b.id, b.name]),
    replicas.map((r) => [brokerId(r), `127.0.0.1:${r.kafkaPort}`]),
  );
  const partition = metadata.topics.find((x) => x.topic === 'mqtt')!.partitions[0]!;
  assert.equal(partition.leader, brokerId(leader), `the follower names ${partition.leader} as leader, not ${leader.id}`);
  assert.deepEqual(partition.replicas.map((r) => r.id), [0, 1, 2]);
  assert.ok(partition.isrs.some((r) => r.id === brokerId(leader)));

  // metadataMaxAge: this client refreshes Metadata on NOT_LEADER_OR_FOLLOWER at once, but after a
  // refused connection to a dead leader only once its Metadata is that old (default 5 s).
  const producer = new Producer({ clientId: 'via-follower', bootstrapBrokers: [`127.0.0.1:${follower.kafkaPort}`], serializers: stringSerializers, retries: 3, retryDelay: 250, metadataMaxAge: 1000 });
  onCleanup(t, () => producer.close());
  await producer.send({ messages: [{ topic: 'mqtt', partition: 0, key: 'k', value: 'first' }] });
  assert.deepEqual(storedValues(leader).filter((v) => v === 'first'), ['first']);

  await leader.kill();
  const next = await waitForLeader(replicas.filter((r) => r !== leader));
  // As an application does with this client: a send that failed on the dead leader is sent again.
  let failures = 0;
  for (;;) {
    try {
      await producer.send({ messages: [{ topic: 'mqtt', partition: 0, key: 'k', value: 'after-failover' }] });
      break;
    } catch (err) {
      if (++failures >= 20) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  assert.deepEqual(storedValues(next).filter((v) => v === 'first' || v === 'after-failover'), ['first', 'after-failover']);
  const after = (await metadataFrom(follower)).topics.find((x) => x.topic === 'mqtt')!.partitions[0]!;
  assert.equal(after.leader, brokerId(next));
});
