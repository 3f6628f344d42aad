// Which node serves the group APIs with replication (apis/group-fields.ts, coordinatorError): the
// cluster leader only. A follower answers NOT_COORDINATOR (16) and stores nothing, as Kafka's
// broker does for a group it does not coordinate; during an election COORDINATOR_NOT_AVAILABLE
// (15). Raw frames over a real socket against a real log.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Log } from '../../../../broker/log/log.js';
import type { KafkaClusterView } from '../../../../bridge/kafka/cluster-view.js';
import { GroupErrorCode } from '../../../../bridge/kafka/groups/error-codes.js';
import { ErrorCode } from '../../../../bridge/kafka/protocol/error-codes.js';
import { Reader } from '../../../../bridge/kafka/protocol/reader.js';
import { Writer } from '../../../../bridge/kafka/protocol/writer.js';
import { KafkaServer } from '../../../../bridge/kafka/server.js';
import { createLogger } from '../../../../bridge/logger.js';
import { onCleanup } from '../../../helpers/cleanup.js';
import { RawKafka } from '../../../helpers/raw-kafka.js';
import { tempDir } from '../../../helpers/temp-dir.js';

const { NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE } = GroupErrorCode;

/** Sends one request (non-flexible) and returns a reader after the correlation id. */
async function ask(kafka: RawKafka, apiKey: number, version: number, body: Writer): Promise<Reader> {
  kafka.send(apiKey, version, Buffer.concat(body.chunks()));
  const r = new Reader((await kafka.response())!);
  r.int32(); // correlation id
  return r;
}

/** OffsetCommit v2 of mqtt-0 at `offset` outside any generation: the partition's error. */
async function offsetCommitV2(kafka: RawKafka, offset: number): Promise<number> {
  const body = new Writer().string('g', false).int32(-1).string('', false).int64(-1);
  body.array(['mqtt'], false, (w, name) => {
    w.string(name, false).array([0], false, (w, p) => void w.int32(p).int64(offset).string(null, false));
  });
  const r = await ask(kafka, 8, 2, body);
  const errors = r.array(false, (r) => {
    r.string(false); // topic
    return r.array(false, (r) => {
      r.int32(); // partition
      return r.int16();
    });
  });
  return errors[0]![0]!;
}

/** OffsetFetch v3 of mqtt-0: the group's error and the committed offset (-1: none, or not answered). */
async function offsetFetchV3(kafka: RawKafka): Promise<{ error: number; offset: number }> {
  const body = new Writer().string('g', false).array(['mqtt'], false, (w, name) => void w.string(name, false).array([0], false, (w, p) => void w.int32(p)));
  const r = await ask(kafka, 9, 3, body);
  r.int32(); // throttle
  const offsets = r.array(false, (r) => {
    r.string(false); // topic
    return r.array(false, (r) => {
      r.int32(); // partition
      const offset = r.int64();
      r.string(false); // metadata
      r.int16(); // the partition's error
      return offset;
    });
  });
  return { error: r.int16(), offset: offsets[0]?.[0] ?? -1 };
}

/** OffsetFetch v1 (no group error): each partition's error. */
async function offsetFetchV1Errors(kafka: RawKafka): Promise<number[]> {
  const body = new Writer().string('g', false).array(['mqtt'], false, (w, name) => void w.string(name, false).array([0], false, (w, p) => void w.int32(p)));
  const r = await ask(kafka, 9, 1, body);
  const errors = r.array(false, (r) => {
    r.string(false); // topic
    return r.array(false, (r) => {
      r.int32(); // partition
      r.int64(); // offset
      r.string(false); // metadata
      return r.int16();
    });
  });
  return errors.flat();
}

async function joinGroupV0(kafka: RawKafka): Promise<number> {
  const body = new Writer().string('g', false).int32(10_000).string('', false).string('consumer', false);
  body.array(['range'], false, (w, name) => void w.string(name, false).int32(0));
  return (await ask(kafka, 11, 0, body)).int16();
}

async function heartbeatV0(kafka: RawKafka): Promise<number> {
  return (await ask(kafka, 12, 0, new Writer().string('g', false).int32(1).string('m', false))).int16();
}

async function syncGroupV0(kafka: RawKafka): Promise<number> {
  return (await ask(kafka, 14, 0, new Writer().string('g', false).int32(1).string('m', false).array([], false, () => undefined))).int16();
}

async function leaveGroupV0(kafka: RawKafka): Promise<number> {
  return (await ask(kafka, 13, 0, new Writer().string('g', false).string('m', false))).int16();
}

async function describeGroupsV0(kafka: RawKafka): Promise<number> {
  const r = await ask(kafka, 15, 0, new Writer().array(['g'], false, (w, id) => void w.string(id, false)));
  return r.int32() > 0 ? r.int16() : -1; // the array's count, then the first group's error (the rest unread)
}

async function deleteGroupsV0(kafka: RawKafka): Promise<number> {
  const r = await ask(kafka, 42, 0, new Writer().array(['g'], false, (w, id) => void w.string(id, false)));
  r.int32(); // throttle
  const errors = r.array(false, (r) => {
    r.string(false); // group id
    return r.int16();
  });
  return errors[0]!;
}

async function offsetDeleteV0(kafka: RawKafka): Promise<number> {
  const body = new Writer().string('g', false).array(['mqtt'], false, (w, name) => void w.string(name, false).array([0], false, (w, p) => void w.int32(p)));
  return (await ask(kafka, 47, 0, body)).int16();
}

async function listGroupsV0(kafka: RawKafka): Promise<{ error: number; groups: string[] }> {
  const r = await ask(kafka, 16, 0, new Writer());
  const error = r.int16();
  const groups = r.array(false, (r) => {
    const id = r.string(false);
    r.string(false); // protocol type
    return id;
  });
  return { error, groups };
}

test('the group APIs answer NOT_COORDINATOR on a follower and store nothing there, COORDINATOR_NOT_AVAILABLE during an election; the leader serves them', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'mqtt', partitions: 1 }] });
  onCleanup(t, () => log.close());
  let leader: string | null = 'c';
  const cluster: KafkaClusterView = { selfId: 'b', members: [{ id: 'c', kafka: '10.0.0.13:9092' }], leaderId: () => leader, inSync: () => ['b', 'c'] };
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections: 10, clusterId: 'site', log, logger: createLogger('silent'), cluster });
  onCleanup(t, () => server.close());
  const kafka = await RawKafka.open(t, server.port);

  // A follower (c leads): a commit is refused and not stored here.
  assert.equal(await offsetCommitV2(kafka, 5), NOT_COORDINATOR);
  assert.deepEqual(await offsetFetchV3(kafka), { error: NOT_COORDINATOR, offset: -1 });
  assert.deepEqual(await offsetFetchV1Errors(kafka), [NOT_COORDINATOR]);
  assert.equal(await joinGroupV0(kafka), NOT_COORDINATOR);
  assert.equal(await syncGroupV0(kafka), NOT_COORDINATOR);
  assert.equal(await heartbeatV0(kafka), NOT_COORDINATOR);
  assert.equal(await leaveGroupV0(kafka), NOT_COORDINATOR);
  assert.equal(await describeGroupsV0(kafka), NOT_COORDINATOR);
  assert.equal(await deleteGroupsV0(kafka), NOT_COORDINATOR);
  assert.equal(await offsetDeleteV0(kafka), NOT_COORDINATOR);

  // An election: no coordinator now.
  leader = null;
  assert.equal(await offsetCommitV2(kafka, 6), COORDINATOR_NOT_AVAILABLE);
  assert.equal(await joinGroupV0(kafka), COORDINATOR_NOT_AVAILABLE);
  assert.equal((await listGroupsV0(kafka)).error, COORDINATOR_NOT_AVAILABLE);

  // This node leads: nothing of the refused commits was stored; a commit now is.
  leader = 'b';
  assert.deepEqual(await offsetFetchV3(kafka), { error: ErrorCode.NONE, offset: -1 });
  assert.equal(await offsetCommitV2(kafka, 7), ErrorCode.NONE);
  assert.deepEqual(await offsetFetchV3(kafka), { error: ErrorCode.NONE, offset: 7 });
  assert.equal(await heartbeatV0(kafka), GroupErrorCode.UNKNOWN_MEMBER_ID, 'served: the member is unknown');
  assert.deepEqual(await listGroupsV0(kafka), { error: ErrorCode.NONE, groups: ['g'] });

  // A follower again: it lists no groups (each broker lists the groups it coordinates), without an error.
  leader = 'c';
  assert.deepEqual(await listGroupsV0(kafka), { error: ErrorCode.NONE, groups: [] });
  assert.equal(await heartbeatV0(kafka), NOT_COORDINATOR);
});
