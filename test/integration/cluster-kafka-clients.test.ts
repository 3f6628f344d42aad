// Kafka clients and a replicated cluster (docs/replication.md, Clients): three real `tributary
// start` nodes with their Kafka endpoints on loopback. Metadata on any node names every node as a
// broker and the cluster's leader as the leader of every partition, so a producer given only a
// follower's address produces to the leader, and after the leader is SIGKILLed, to the next one.
// A consumer group whose coordinator stopped leading is told NOT_COORDINATOR there and commits on
// the new leader.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Producer, stringSerializers } from '@platformatic/kafka';
import mqtt from 'mqtt';
import { onCleanup } from '../helpers/cleanup.js';
import { startReplicas, storedValues, waitForLeader, type Replica } from '../helpers/replicas.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

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
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    try {
      await producer.send({ messages: [{ topic: 'mqtt', partition: 0, key: 'k', value: 'after-failover' }] });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  assert.deepEqual(storedValues(next).filter((v) => v === 'first' || v === 'after-failover'), ['first', 'after-failover']);
  const after = (await metadataFrom(follower)).topics.find((x) => x.topic === 'mqtt')!.partitions[0]!;
  assert.equal(after.leader, brokerId(next));
});

async function publishAll(replica: Replica, payloads: readonly string[]): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${replica.mqttPort}`, { clientId: `publisher-${Date.now()}`, reconnectPeriod: 0, connectTimeout: 30_000 });
  for (const payload of payloads) await client.publishAsync('plant/line/power', payload, { qos: 1 });
  await client.endAsync();
}

/** The committed position of Kafka group `group` in mqtt-0 on `replica` (GET /api/readers); null: none, or no answer. */
async function committedOn(replica: Replica, group: string): Promise<number | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${replica.httpPort}/api/readers`, { signal: AbortSignal.timeout(2000) });
    const { readers } = (await res.json()) as { readers: { reader: string; topic: string; partition: number; nextOffset: number }[] };
    return readers.find((r) => r.reader === `kafka:${group}` && r.topic === 'mqtt' && r.partition === 0)?.nextOffset ?? null;
  } catch {
    return null;
  }
}

/** Waits (bounded) until `ok()`; `what` names it in the failure. */
async function until(ok: () => Promise<boolean> | boolean, what: () => Promise<string> | string): Promise<void> {
  if (!(await pollUntil(ok, PATIENCE_MS, 50))) throw new Error(await what());
}

test('a consumer group whose coordinator stopped leading (SIGSTOPped past an election, then SIGCONT: its Kafka connections stay) is told NOT_COORDINATOR there, finds the new leader and commits there, where the commit replicates', async (t) => {
  const replicas = await startReplicas(t, 3, { kafka: true });
  const leader = await waitForLeader(replicas);
  await publishAll(leader, ['a', 'b', 'c']);

  // kcat in group "stale", given only the leader's address: its coordinator is that node.
  const kcat = spawn('kcat', ['-b', `127.0.0.1:${leader.kafkaPort}`, '-G', 'stale', '-X', 'auto.offset.reset=earliest', '-X', 'auto.commit.interval.ms=200', '-X', 'heartbeat.interval.ms=500', '-X', 'session.timeout.ms=10000', '-u', '-f', '%s\n', 'mqtt'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  kcat.stdout.on('data', (c: Buffer) => (out += c.toString()));
  kcat.stderr.on('data', (c: Buffer) => (err += c.toString()));
  onCleanup(t, () => void kcat.kill('SIGKILL'));
  const read = (): string[] => out.split('\n').filter((line) => line !== '');
  await until(() => ['a', 'b', 'c'].every((v) => read().includes(v)), () => `kcat read ${read().join(',')}\n${err}`);
  await until(async () => (await committedOn(leader, 'stale')) === 3, async () => `committed ${await committedOn(leader, 'stale')} on the leader\n${err}`);

  // The leader stops past an election timeout; the others elect a new leader; it comes back a follower.
  leader.signal('SIGSTOP');
  const others = replicas.filter((r) => r !== leader);
  let next: Replica;
  try {
    next = await waitForLeader(others);
  } finally {
    leader.signal('SIGCONT');
  }
  await until(async () => (await leader.status())?.role === 'follower', async () => `the old leader is ${JSON.stringify(await leader.status())}`);

  // New records: kcat reads them and commits 5, on the new leader (before: on the old one, where it stayed).
  await publishAll(next, ['d', 'e']);
  await until(
    async () => (await committedOn(next, 'stale')) === 5,
    async () => `committed on the new leader: ${await committedOn(next, 'stale')}, on the old one: ${await committedOn(leader, 'stale')}; kcat read ${read().join(',')}\n${err.slice(-2000)}`,
  );
  assert.ok(['d', 'e'].every((v) => read().includes(v)), `kcat read ${read().join(',')}`);
  // The commit replicates: every node holds it.
  await until(
    async () => (await Promise.all(replicas.map((r) => committedOn(r, 'stale')))).every((n) => n === 5),
    async () => `committed: ${(await Promise.all(replicas.map((r) => committedOn(r, 'stale')))).join(', ')}`,
  );
});
