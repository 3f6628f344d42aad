// The classic rebalance protocol at the byte level, on real sockets against a real log: what the
// clients' own logic hides (MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
// UNKNOWN_MEMBER_ID, refused static members and session timeouts), generations, the leader's view,
// assignments, commits by generation, and what DescribeGroups, ListGroups and OffsetFetch show.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Log } from '../../../../broker/log/log.js';
import { KafkaServer } from '../../../../bridge/kafka/server.js';
import { Reader } from '../../../../bridge/kafka/protocol/reader.js';
import { Writer } from '../../../../bridge/kafka/protocol/writer.js';
import { createLogger } from '../../../../bridge/logger.js';
import { onCleanup } from '../../../helpers/cleanup.js';
import { RawKafka } from '../../../helpers/raw-kafka.js';
import { tempDir } from '../../../helpers/temp-dir.js';

const NONE = 0;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const ILLEGAL_GENERATION = 22;
const UNKNOWN_MEMBER_ID = 25;
const INVALID_SESSION_TIMEOUT = 26;
const REBALANCE_IN_PROGRESS = 27;
const INCONSISTENT_GROUP_PROTOCOL = 23;
const UNSUPPORTED_VERSION = 35;
const MEMBER_ID_REQUIRED = 79;

async function startServer(t: TestContext, dataDir = tempDir(t)): Promise<KafkaServer> {
  const log = await Log.open({ dataDir, topics: [{ name: 'mqtt', partitions: 2 }] });
  onCleanup(t, () => log.close());
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections: 1000, clusterId: 'test', log, logger: createLogger('silent') });
  onCleanup(t, () => server.close());
  return server;
}

const body = (w: Writer): Buffer => Buffer.concat(w.chunks());
const bytesField = (w: Writer, v: Buffer): Writer => w.int32(v.length).bytes(v);

interface Joined {
  error: number;
  generation: number;
  protocol: string;
  leader: string;
  memberId: string;
  members: string[];
}

/** JoinGroup v5 (classic encoding, group_instance_id present): sends it; the answer comes when the join completes. */
function sendJoin(kafka: RawKafka, memberId: string, options: { version?: number; sessionTimeoutMs?: number; rebalanceTimeoutMs?: number; instanceId?: string | null; protocolType?: string } = {}): void {
  const version = options.version ?? 5;
  const w = new Writer().string('g', false).int32(options.sessionTimeoutMs ?? 30_000).int32(options.rebalanceTimeoutMs ?? 30_000).string(memberId, false);
  if (version >= 5) w.string(options.instanceId ?? null, false);
  w.string(options.protocolType ?? 'consumer', false).array(['range'], false, (w, name) => bytesField(w.string(name, false), Buffer.from(`meta-${memberId.slice(0, 4)}`)));
  kafka.send(11, version, body(w));
}

async function joinAnswer(kafka: RawKafka, version = 5): Promise<Joined> {
  const r = new Reader((await kafka.response())!);
  r.int32(); // correlation id
  if (version >= 2) r.int32();
  const error = r.int16();
  const generation = r.int32();
  const protocol = r.string(false);
  const leader = r.string(false);
  const memberId = r.string(false);
  const members = r.array(false, (r) => {
    const id = r.string(false);
    if (version >= 5) r.nullableString(false);
    r.nullableBytes(false);
    return id;
  });
  return { error, generation, protocol, leader, memberId, members };
}

/** A member joins as a v5 client does: MEMBER_ID_REQUIRED first, then again with the id given. */
async function joinNew(kafka: RawKafka): Promise<string> {
  sendJoin(kafka, '');
  const required = await joinAnswer(kafka);
  assert.equal(required.error, MEMBER_ID_REQUIRED);
  assert.match(required.memberId, /^raw-test-/);
  return required.memberId;
}

async function heartbeat(kafka: RawKafka, memberId: string, generation: number): Promise<number> {
  kafka.send(12, 1, body(new Writer().string('g', false).int32(generation).string(memberId, false)));
  const r = new Reader((await kafka.response())!);
  r.int32();
  r.int32();
  return r.int16();
}

function sendSync(kafka: RawKafka, memberId: string, generation: number, assignments: Array<[string, string]>): void {
  kafka.send(14, 1, body(new Writer().string('g', false).int32(generation).string(memberId, false).array(assignments, false, (w, [m, a]) => bytesField(w.string(m, false), Buffer.from(a)))));
}

async function syncAnswer(kafka: RawKafka): Promise<{ error: number; assignment: string }> {
  const r = new Reader((await kafka.response())!);
  r.int32();
  r.int32();
  const error = r.int16();
  return { error, assignment: r.nullableBytes(false)!.toString() };
}

/** OffsetCommit v2 of mqtt partition 0 (and `topic`'s partition 1): the error per partition. */
async function commit(kafka: RawKafka, memberId: string, generation: number, offset: number, topic = 'mqtt'): Promise<number[]> {
  const w = new Writer().string('g', false).int32(generation).string(memberId, false).int64(-1);
  w.array([['mqtt', 0], [topic, 1]] as const, false, (w, [name, p]) => w.string(name, false).array([p], false, (w, p) => w.int32(p).int64(offset).string('', false)));
  kafka.send(8, 2, body(w));
  const r = new Reader((await kafka.response())!);
  r.int32();
  return r.array(false, (r) => {
    r.string(false);
    return r.array(false, (r) => (r.int32(), r.int16()));
  }).flat();
}

/** OffsetFetch v1 of mqtt partitions 0 and 1. */
async function fetchOffsets(kafka: RawKafka): Promise<number[]> {
  kafka.send(9, 1, body(new Writer().string('g', false).array(['mqtt'], false, (w, name) => w.string(name, false).array([0, 1], false, (w, p) => w.int32(p)))));
  const r = new Reader((await kafka.response())!);
  r.int32();
  return r.array(false, (r) => {
    r.string(false);
    return r.array(false, (r) => {
      r.int32();
      const offset = r.int64();
      r.nullableString(false);
      assert.equal(r.int16(), NONE);
      return offset;
    });
  }).flat();
}

test('FindCoordinator names this node for a group, in the single-key (v1) and batched (v4) forms', async (t) => {
  const server = await startServer(t);
  const kafka = await RawKafka.open(t, server.port);
  kafka.send(10, 1, body(new Writer().string('g', false).int8(0)));
  let r = new Reader((await kafka.response())!);
  r.int32();
  r.int32();
  assert.deepEqual([r.int16(), r.nullableString(false), r.int32(), r.string(false), r.int32()], [NONE, null, 0, '127.0.0.1', server.port]);

  kafka.send(10, 4, body(new Writer().int8(0).array(['a', 'b'], true, (w, k) => w.string(k, true)).taggedFields()), true);
  r = new Reader((await kafka.response())!);
  r.int32();
  r.taggedFields();
  r.int32();
  const coordinators = r.array(true, (r) => {
    const c = [r.string(true), r.int32(), r.string(true), r.int32(), r.int16(), r.nullableString(true)];
    r.taggedFields();
    return c;
  });
  assert.deepEqual(coordinators, [['a', 0, '127.0.0.1', server.port, NONE, null], ['b', 0, '127.0.0.1', server.port, NONE, null]]);
});

test('JoinGroup refuses a static member and a session timeout out of range; v4+ asks a new member to join again with its id (KIP-394)', async (t) => {
  const server = await startServer(t);
  const kafka = await RawKafka.open(t, server.port);
  sendJoin(kafka, '', { instanceId: 'static-1' });
  assert.equal((await joinAnswer(kafka)).error, UNSUPPORTED_VERSION, 'static membership is refused, not served as dynamic');
  sendJoin(kafka, '', { sessionTimeoutMs: 1000 });
  assert.equal((await joinAnswer(kafka)).error, INVALID_SESSION_TIMEOUT);
  sendJoin(kafka, '', { protocolType: '' });
  assert.equal((await joinAnswer(kafka)).error, INCONSISTENT_GROUP_PROTOCOL);
  kafka.send(16, 0, Buffer.alloc(0));
  const listed = new Reader((await kafka.response())!);
  listed.int32();
  assert.equal(listed.int16(), NONE);
  assert.deepEqual(listed.array(false, (r) => r.string(false)), [], 'a refused join leaves no group behind');

  const memberId = await joinNew(kafka);
  assert.equal(await heartbeat(kafka, memberId, 0), UNKNOWN_MEMBER_ID, 'not a member until it joins with the id');
  sendJoin(kafka, memberId);
  assert.deepEqual(await joinAnswer(kafka), { error: NONE, generation: 1, protocol: 'range', leader: memberId, memberId, members: [memberId] });
  assert.equal(await heartbeat(kafka, memberId, 1), NONE);
});

test('a second member makes the group rebalance: heartbeats say so, commits follow the generation, the leader assigns, the group is described', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, dataDir);
  const one = await RawKafka.open(t, server.port);
  const two = await RawKafka.open(t, server.port);
  const first = await joinNew(one);
  sendJoin(one, first);
  assert.equal((await joinAnswer(one)).generation, 1);
  sendSync(one, first, 1, [[first, 'all']]);
  assert.deepEqual(await syncAnswer(one), { error: NONE, assignment: 'all' });
  assert.deepEqual(await commit(one, first, 1, 5), [NONE, NONE]);

  // A v3 client joins without MEMBER_ID_REQUIRED; its answer waits for the first member to rejoin.
  sendJoin(two, '', { version: 3 });
  assert.equal(await heartbeat(one, first, 1), REBALANCE_IN_PROGRESS);
  assert.equal(await heartbeat(one, first, 7), ILLEGAL_GENERATION);
  assert.equal(await heartbeat(one, 'nobody', 1), UNKNOWN_MEMBER_ID);
  assert.deepEqual(await commit(one, first, 1, 6), [NONE, NONE], 'a member of the generation may commit while the group rebalances');
  sendJoin(one, first);
  const [leader, follower] = [await joinAnswer(one), await joinAnswer(two, 3)];
  assert.deepEqual([leader.error, leader.generation, leader.leader, leader.members.length], [NONE, 2, first, 2]);
  assert.deepEqual([follower.error, follower.generation, follower.leader, follower.members], [NONE, 2, first, []]);
  const second = follower.memberId;

  // The follower's SyncGroup waits for the leader's assignments.
  sendSync(two, second, 2, []);
  sendSync(one, first, 2, [[first, 'p0'], [second, 'p1']]);
  assert.deepEqual(await syncAnswer(one), { error: NONE, assignment: 'p0' });
  assert.deepEqual(await syncAnswer(two), { error: NONE, assignment: 'p1' });

  assert.deepEqual(await commit(one, first, 1, 7), [ILLEGAL_GENERATION, ILLEGAL_GENERATION], 'a commit of the last generation is refused');
  assert.deepEqual(await commit(one, first, 2, 8, 'missing'), [NONE, UNKNOWN_TOPIC_OR_PARTITION]);
  assert.deepEqual(await fetchOffsets(two), [8, 6]);

  one.send(15, 0, body(new Writer().array(['g', 'nothing'], false, (w, g) => w.string(g, false))));
  const r = new Reader((await one.response())!);
  r.int32();
  const described = r.array(false, (r) => {
    const [error, id, state, type, protocol] = [r.int16(), r.string(false), r.string(false), r.string(false), r.string(false)];
    const members = r.array(false, (r) => {
      const [memberId, clientId, host] = [r.string(false), r.string(false), r.string(false)];
      r.nullableBytes(false);
      return { memberId, clientId, host, assignment: r.nullableBytes(false)!.toString() };
    });
    return { error, id, state, type, protocol, members };
  });
  assert.deepEqual(described, [
    { error: NONE, id: 'g', state: 'Stable', type: 'consumer', protocol: 'range', members: [{ memberId: first, clientId: 'raw-test', host: '/127.0.0.1', assignment: 'p0' }, { memberId: second, clientId: 'raw-test', host: '/127.0.0.1', assignment: 'p1' }] },
    { error: NONE, id: 'nothing', state: 'Dead', type: '', protocol: '', members: [] },
  ]);

  // LeaveGroup v3: the follower leaves; the leader is told to rejoin.
  two.send(13, 3, body(new Writer().string('g', false).array([second], false, (w, m) => w.string(m, false).string(null, false))));
  const left = new Reader((await two.response())!);
  left.int32();
  left.int32();
  assert.equal(left.int16(), NONE);
  assert.deepEqual(left.array(false, (r) => [r.string(false), r.nullableString(false), r.int16()]), [[second, null, NONE]]);
  assert.equal(await heartbeat(one, first, 2), REBALANCE_IN_PROGRESS);

  // ListGroups v4 with a state filter.
  one.send(16, 4, body(new Writer().array(['PreparingRebalance'], true, (w, s) => w.string(s, true)).taggedFields()), true);
  const listed = new Reader((await one.response())!);
  listed.int32();
  listed.taggedFields();
  listed.int32();
  assert.equal(listed.int16(), NONE);
  assert.deepEqual(listed.array(true, (r) => {
    const g = [r.string(true), r.string(true), r.string(true)];
    r.taggedFields();
    return g;
  }), [['g', 'consumer', 'PreparingRebalance']]);
});

test('committed offsets are in the cursor store: a restarted server answers OffsetFetch with them, and a commit outside any generation is stored', async (t) => {
  const dataDir = tempDir(t);
  {
    const log = await Log.open({ dataDir, topics: [{ name: 'mqtt', partitions: 2 }] });
    const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections: 1000, clusterId: 'test', log, logger: createLogger('silent') });
    const kafka = await RawKafka.open(t, server.port);
    assert.deepEqual(await commit(kafka, '', -1, 42), [NONE, NONE], 'generation -1 without a member id: a client that assigns partitions itself');
    await kafka.close();
    await server.close();
    await log.close();
  }
  const server = await startServer(t, dataDir);
  const kafka = await RawKafka.open(t, server.port);
  assert.deepEqual(await fetchOffsets(kafka), [42, 42]);
});

test('the rebalance timeout ends a join without the member that did not rejoin', async (t) => {
  const server = await startServer(t);
  const one = await RawKafka.open(t, server.port);
  const two = await RawKafka.open(t, server.port);
  // The first member's rebalance timeout, 5 s, is only its time to send SyncGroup after its join
  // (it does at once); the second member's join below waits that long for it to rejoin.
  const first = await joinNew(one);
  sendJoin(one, first, { rebalanceTimeoutMs: 5_000 });
  assert.equal((await joinAnswer(one)).generation, 1);
  sendSync(one, first, 1, [[first, 'all']]);
  assert.equal((await syncAnswer(one)).error, NONE);

  // The first member does not rejoin: the join completes without it, the second member leads alone.
  sendJoin(two, '', { version: 3, rebalanceTimeoutMs: 1 });
  const alone = await joinAnswer(two, 3);
  assert.deepEqual([alone.error, alone.generation, alone.leader, alone.members], [NONE, 2, alone.memberId, [alone.memberId]]);
  assert.equal(await heartbeat(one, first, 1), UNKNOWN_MEMBER_ID, 'the member that did not rejoin is out');
});

test('a leader that does not send its assignments within the rebalance timeout is removed; the waiting follower is told', async (t) => {
  const server = await startServer(t);
  const one = await RawKafka.open(t, server.port);
  const two = await RawKafka.open(t, server.port);
  sendJoin(one, '', { version: 3 });
  const leader = await joinAnswer(one, 3);
  sendSync(one, leader.memberId, 1, [[leader.memberId, 'all']]);
  assert.equal((await syncAnswer(one)).error, NONE);
  sendJoin(two, '', { version: 3, rebalanceTimeoutMs: 1 });
  assert.equal(await heartbeat(one, leader.memberId, 1), REBALANCE_IN_PROGRESS);
  sendJoin(one, leader.memberId, { version: 3, rebalanceTimeoutMs: 1 });
  const [rejoined, follower] = [await joinAnswer(one, 3), await joinAnswer(two, 3)];
  assert.deepEqual([rejoined.generation, rejoined.leader, follower.generation], [2, leader.memberId, 2]);
  // The leader never syncs. The follower's SyncGroup is answered once the 1 ms sync phase has
  // ended: REBALANCE_IN_PROGRESS if it was waiting then, UNKNOWN_MEMBER_ID if it came after (it
  // had not synced either); without the timeout it would wait forever.
  sendSync(two, follower.memberId, 2, []);
  assert.ok([REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID].includes((await syncAnswer(two)).error));
  assert.equal(await heartbeat(one, leader.memberId, 2), UNKNOWN_MEMBER_ID, 'the leader that did not sync is out');
});
