// DeleteGroups (42) and OffsetDelete (47) at the byte level, on a real socket against a real log
// and cursor store: each per-group and per-partition answer, classic and flexible versions, and
// kafka.acl (a group is deleted only by a principal that may read every topic it committed). The
// cases with members in the group (NON_EMPTY_GROUP, GROUP_SUBSCRIBED_TO_TOPIC) run with kcat and
// Kafka's ConsumerGroupCommand in test/integration/kafka-groups.test.ts.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { CursorStore } from '../../../../broker/cursors.js';
import { Log } from '../../../../broker/log/log.js';
import { KafkaAuthorizer } from '../../../../bridge/kafka/authorization.js';
import { Reader } from '../../../../bridge/kafka/protocol/reader.js';
import { Writer } from '../../../../bridge/kafka/protocol/writer.js';
import { KafkaUsers } from '../../../../bridge/kafka/sasl/users.js';
import { KafkaServer } from '../../../../bridge/kafka/server.js';
import { createLogger } from '../../../../bridge/logger.js';
import { hashPassword } from '../../../../bridge/shared/passwords.js';
import { onCleanup } from '../../../helpers/cleanup.js';
import { RawKafka } from '../../../helpers/raw-kafka.js';
import { tempDir } from '../../../helpers/temp-dir.js';

const body = (w: Writer): Buffer => Buffer.concat(w.chunks());

/** A node whose cursors.db already holds Kafka groups' offsets: `committed` is [group, topic, partition, offset]. */
async function startServer(t: TestContext, committed: Array<[string, string, number, number]>, acl: boolean): Promise<{ kafka: RawKafka; dataDir: string; server: KafkaServer }> {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir, topics: [{ name: 'mqtt', partitions: 2 }, { name: 'secret', partitions: 1 }] });
  onCleanup(t, () => log.close());
  const seed = CursorStore.open(dataDir);
  for (const [group, topic, partition, offset] of committed) seed.commit(`kafka:${group}`, topic, partition, offset);
  seed.close();
  const security = acl
    ? { users: KafkaUsers.fromConfig([{ username: 'reader', password: await hashPassword('reader-secret') }]), mechanisms: ['PLAIN' as const], required: true, authorizer: KafkaAuthorizer.fromConfig([{ user: 'reader', read: ['mqtt'], write: [] }]) }
    : undefined;
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections: 10, clusterId: 'test', log, logger: createLogger('silent'), ...(security === undefined ? {} : { security }) });
  onCleanup(t, () => server.close());
  const kafka = await RawKafka.open(t, server.port);
  if (acl) {
    kafka.send(17, 1, body(new Writer().string('PLAIN', false)));
    await kafka.response();
    const token = Buffer.from('\u0000reader\u0000reader-secret');
    kafka.send(36, 0, body(new Writer().int32(token.length).bytes(token)));
    const r = new Reader((await kafka.response())!);
    r.int32();
    assert.equal(r.int16(), 0, 'authenticated');
  }
  return { kafka, dataDir, server };
}

/** DeleteGroups: [group, error] per group. */
async function deleteGroups(kafka: RawKafka, version: number, groups: string[]): Promise<Array<[string, number]>> {
  const flexible = version >= 2;
  const w = new Writer().array(groups, flexible, (w, g) => w.string(g, flexible));
  if (flexible) w.taggedFields();
  kafka.send(42, version, body(w), flexible);
  const r = new Reader((await kafka.response())!);
  r.int32();
  if (flexible) r.taggedFields();
  assert.equal(r.int32(), 0, 'throttle');
  return r.array(flexible, (r) => {
    const answer: [string, number] = [r.string(flexible), r.int16()];
    if (flexible) r.taggedFields();
    return answer;
  });
}

/** OffsetDelete v0: the group's error and [topic, partition, error] per partition answered. */
async function offsetDelete(kafka: RawKafka, group: string, topics: Array<[string, number[]]>): Promise<{ error: number; partitions: Array<[string, number, number]> }> {
  kafka.send(47, 0, body(new Writer().string(group, false).array(topics, false, (w, [name, partitions]) => w.string(name, false).array(partitions, false, (w, p) => w.int32(p)))));
  const r = new Reader((await kafka.response())!);
  r.int32();
  const error = r.int16();
  r.int32();
  const partitions = r.array(false, (r) => {
    const name = r.string(false);
    return r.array(false, (r): [string, number, number] => [name, r.int32(), r.int16()]);
  }).flat();
  assert.equal(r.remaining, 0);
  return { error, partitions };
}

/** What cursors.db holds, read by a connection of its own. */
function stored(dataDir: string): string[] {
  const cursors = CursorStore.open(dataDir);
  try {
    return cursors.list().map((c) => `${c.group} ${c.topic}/${c.partition}=${c.nextOffset}`);
  } finally {
    cursors.close();
  }
}

test('DeleteGroups removes an empty group with its offsets, durably, in v0 and v2; an unknown group is GROUP_ID_NOT_FOUND, "" INVALID_GROUP_ID; the group is gone from ListGroups', async (t) => {
  const { kafka, dataDir } = await startServer(t, [['a', 'mqtt', 0, 5], ['a', 'mqtt', 1, 7], ['b', 'mqtt', 0, 1], ['c', 'mqtt', 0, 2]], false);
  assert.deepEqual(await deleteGroups(kafka, 0, ['a', 'nope', '']), [['a', 0], ['nope', 69], ['', 24]]);
  assert.deepEqual(await deleteGroups(kafka, 2, ['b', 'a']), [['b', 0], ['a', 69]], 'a is gone');
  assert.deepEqual(stored(dataDir), ['kafka:c mqtt/0=2']);
  kafka.send(16, 0, Buffer.alloc(0)); // ListGroups v0
  const r = new Reader((await kafka.response())!);
  r.int32();
  assert.equal(r.int16(), 0);
  assert.deepEqual(r.array(false, (r) => [r.string(false), r.string(false)][0]), ['c']);
});

test('OffsetDelete removes the offsets asked of an empty group; a partition the log does not have is UNKNOWN_TOPIC_OR_PARTITION; an unknown group GROUP_ID_NOT_FOUND with no topics answered', async (t) => {
  const { kafka, dataDir } = await startServer(t, [['a', 'mqtt', 0, 5], ['a', 'mqtt', 1, 7], ['a', 'secret', 0, 3]], false);
  assert.deepEqual(await offsetDelete(kafka, 'a', [['mqtt', [1, 9]], ['missing', [0]], ['secret', [0]]]), {
    error: 0,
    partitions: [['mqtt', 1, 0], ['mqtt', 9, 3], ['missing', 0, 3], ['secret', 0, 0]],
  });
  assert.deepEqual(stored(dataDir), ['kafka:a mqtt/0=5']);
  assert.deepEqual(await offsetDelete(kafka, 'a', [['mqtt', [1]]]), { error: 0, partitions: [['mqtt', 1, 0]] }, 'an offset not committed: nothing to delete, no error (as Kafka)');
  assert.deepEqual(await offsetDelete(kafka, 'nope', [['mqtt', [0]]]), { error: 69, partitions: [] });
  assert.deepEqual(await offsetDelete(kafka, '', [['mqtt', [0]]]), { error: 24, partitions: [] });
  assert.deepEqual(stored(dataDir), ['kafka:a mqtt/0=5']);
});

test('kafka.acl: DeleteGroups needs the read grant of every topic the group committed (GROUP_AUTHORIZATION_FAILED), OffsetDelete that of each topic (TOPIC_AUTHORIZATION_FAILED)', async (t) => {
  const { kafka, dataDir } = await startServer(t, [['mine', 'mqtt', 0, 1], ['mixed', 'mqtt', 0, 2], ['mixed', 'secret', 0, 3]], true);
  assert.deepEqual(await deleteGroups(kafka, 1, ['mixed', 'mine']), [['mixed', 30], ['mine', 0]]);
  assert.deepEqual(await offsetDelete(kafka, 'mixed', [['secret', [0]], ['mqtt', [0]]]), { error: 0, partitions: [['secret', 0, 29], ['mqtt', 0, 0]] });
  assert.deepEqual(stored(dataDir), ['kafka:mixed secret/0=3']);
});
