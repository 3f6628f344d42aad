// The SQLite session store against aedes-persistence's own abstract test suite (the contract
// every aedes persistence must meet), plus what only a durable store can show: a restart.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import { SessionStoreError } from '../../../bridge/mqtt/errors.js';
import { createLogger } from '../../../bridge/logger.js';
import { SqlitePersistence } from '../../../bridge/mqtt/sqlite-persistence.js';
import { tempDir } from '../../helpers/temp-dir.js';

const require = createRequire(import.meta.url);
const abstractSuite = require('aedes-persistence/abstract.js') as (options: object) => void;

// The suite makes hundreds of instances; each gets a fresh file in one directory removed at exit.
const suiteDir = mkdtempSync(join(tmpdir(), 'tributary-persistence-'));
process.on('exit', () => rmSync(suiteDir, { recursive: true, force: true }));
let instances = 0;
abstractSuite({
  test,
  persistence: () => new SqlitePersistence({ file: join(suiteDir, `mqtt-${instances++}.db`) }),
  testAsync: true,
});

const client = { id: 'historian' };
const broker = { id: 'node-1' };

test('everything a session needs survives closing and reopening the file', async (t) => {
  const file = join(tempDir(t), 'mqtt.db');
  const first = new SqlitePersistence({ file });
  await first.setup(broker);
  await first.addSubscriptions(client, [{ topic: 'alarms/#', qos: 1 }, { topic: 'status/+', qos: 0 }]);
  await first.storeRetained({ cmd: 'publish', topic: 'status/pump', payload: Buffer.from([0, 1, 2, 255]), qos: 1, retain: true });
  await first.putWill(client, { cmd: 'publish', topic: 'status/historian', payload: Buffer.from('offline'), qos: 1, retain: false });
  await first.outgoingEnqueueCombi([{ clientId: client.id }], { cmd: 'publish', topic: 'alarms/boiler', payload: Buffer.from('hot'), qos: 1, retain: false, brokerId: 'node-1', brokerCounter: 7 });
  await first.incomingStorePacket(client, { cmd: 'publish', topic: 'meter/1', payload: Buffer.from('kWh'), qos: 2, messageId: 42 });
  await first.destroy();

  const second = new SqlitePersistence({ file });
  t.after(() => second.destroy());
  await second.setup(broker);
  assert.deepEqual(await second.subscriptionsByClient(client), [{ topic: 'alarms/#', qos: 1 }, { topic: 'status/+', qos: 0 }]);
  assert.deepEqual((await second.subscriptionsByTopic('alarms/boiler')).map((s) => s.clientId), ['historian'], 'the topic index is rebuilt');
  const retained = await second.createRetainedStream('status/#').toArray();
  assert.deepEqual(retained.map((p: { payload: Buffer }) => p.payload), [Buffer.from([0, 1, 2, 255])]);
  assert.equal((await second.getWill(client))?.payload.toString(), 'offline');
  const wills = await second.streamWill({}).toArray();
  assert.equal(wills.length, 1, 'a will left by a previous run is offered for publishing');
  const queued = await second.outgoingStream(client).toArray();
  assert.deepEqual(queued.map((p: { topic: string }) => p.topic), ['alarms/boiler']);
  assert.equal((await second.incomingGetPacket(client, { messageId: 42 })).topic, 'meter/1');
});

test('the hooks hear of completed and cleaned QoS 2 state', async (t) => {
  const released: string[] = [];
  const store = new SqlitePersistence({
    file: join(tempDir(t), 'mqtt.db'),
    onIncomingReleased: (clientId, messageId) => released.push(`${clientId}#${messageId}`),
    onIncomingCleaned: (clientId) => released.push(`${clientId}*`),
  });
  t.after(() => store.destroy());
  await store.setup(broker);
  await store.incomingStorePacket(client, { cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 2, messageId: 5 });
  await store.incomingDelPacket(client, { messageId: 5 });
  await assert.rejects(store.incomingDelPacket(client, { messageId: 5 }), /no such packet/);
  await store.cleanIncoming(client);
  assert.deepEqual(released, ['historian#5', 'historian*']);
});

test('a file that is not a database gives TRIB_MQTT_SESSION_STORE naming it', (t) => {
  const file = join(tempDir(t), 'mqtt.db');
  writeFileSync(file, Buffer.alloc(8192, 0x41));
  assert.throws(
    () => new SqlitePersistence({ file }),
    (err: unknown) => err instanceof SessionStoreError && err.code === 'TRIB_MQTT_SESSION_STORE' && err.message.includes(file),
  );
});

// --- Offline queues: read in pages, bounded, and expiring with their session ---

const publishTo = (topic: string, payload: Buffer, counter: number) => ({ cmd: 'publish', topic, payload, qos: 1, retain: false, brokerId: 'node-1', brokerCounter: counter });

/** A logger whose lines are kept, to count what was logged. */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; lines: Array<{ msg: string; [field: string]: unknown }> } {
  const lines: Array<{ msg: string }> = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
  return { logger, lines };
}

test('a queue is read a page at a time as it is consumed, not loaded whole when the stream opens', async (t) => {
  const store = new SqlitePersistence({ file: join(tempDir(t), 'mqtt.db'), outgoingPage: 4 });
  t.after(() => store.destroy());
  await store.setup(broker);
  for (let i = 1; i <= 100; i++) {
    await store.outgoingEnqueueCombi([{ clientId: client.id }], publishTo('alarms/boiler', Buffer.from(String(i)), i));
    await store.outgoingUpdate(client, { ...publishTo('alarms/boiler', Buffer.from(String(i)), i), messageId: i });
  }
  const stream = store.outgoingStream(client);
  const iterator = stream[Symbol.asyncIterator]();
  assert.equal((await iterator.next()).value.messageId, 1);
  // Acknowledged meanwhile: a lazy reader never reads these rows; a snapshot taken at open would send them.
  for (let id = 21; id <= 100; id++) assert.ok(await store.outgoingClearMessageId(client, { messageId: id }));
  const ids = [1];
  for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) ids.push((next.value as { messageId: number }).messageId);
  assert.deepEqual(ids, Array.from({ length: 20 }, (_, i) => i + 1), 'five pages of four, whole and in order');
});

test('a queue stream ends at the message that was newest when it opened', async (t) => {
  const store = new SqlitePersistence({ file: join(tempDir(t), 'mqtt.db'), outgoingPage: 2 });
  t.after(() => store.destroy());
  await store.setup(broker);
  for (let i = 0; i < 5; i++) await store.outgoingEnqueueCombi([{ clientId: client.id }], publishTo('a', Buffer.from(`old-${i}`), i + 1));
  const stream = store.outgoingStream(client);
  // Queued after the client came back: aedes delivers these itself.
  for (let i = 0; i < 3; i++) await store.outgoingEnqueueCombi([{ clientId: client.id }], publishTo('a', Buffer.from(`new-${i}`), 10 + i));
  const read = (await stream.toArray()).map((p: { payload: Buffer }) => p.payload.toString());
  assert.deepEqual(read, ['old-0', 'old-1', 'old-2', 'old-3', 'old-4']);
});

test("an offline session's queue is bounded by count: newer messages are refused, counted, and logged once", async (t) => {
  const { logger, lines } = capturedLogger();
  const full: string[] = [];
  const file = join(tempDir(t), 'mqtt.db');
  const store = new SqlitePersistence({ file, logger, queue: { maxMessages: 3, maxBytes: null }, onQueueFull: (id, reason) => full.push(`${id}:${reason}`) });
  await store.setup(broker);
  const other = { id: 'dashboard' };
  for (let i = 0; i < 6; i++) await store.outgoingEnqueueCombi([{ clientId: client.id }, { clientId: other.id }], publishTo('a', Buffer.from(`m${i}`), i + 1));
  assert.deepEqual((await store.outgoingStream(client).toArray()).map((p: { payload: Buffer }) => p.payload.toString()), ['m0', 'm1', 'm2'], 'the oldest are kept');
  assert.equal((await store.outgoingStream(other).toArray()).length, 3, 'each session has its own bound');
  assert.deepEqual(full, ['historian:messages', 'dashboard:messages', 'historian:messages', 'dashboard:messages', 'historian:messages', 'dashboard:messages']);
  const warnings = lines.filter((l) => l.msg.includes('queue full'));
  assert.deepEqual(warnings.map((l) => l.clientId), ['historian', 'dashboard'], 'one warning per session, not per message');
  assert.equal(store.queuedMessages, 6);

  // Online, the queue is the client's messages in flight: not refused (aedes would drop the client).
  store.sessionOnline(client.id, false);
  assert.equal(lines.filter((l) => l.msg.includes('back online') && l.dropped === 3).length, 1, 'what was not queued is reported when the client returns');
  await store.outgoingEnqueueCombi([{ clientId: client.id }], publishTo('a', Buffer.from('live'), 100));
  assert.equal((await store.outgoingStream(client).toArray()).length, 4);
  store.sessionOffline(client.id, false);

  // The sizes survive a restart: the bound still holds.
  await store.destroy();
  const again = new SqlitePersistence({ file, logger, queue: { maxMessages: 3, maxBytes: null }, onQueueFull: (id, reason) => full.push(`${id}:${reason}`) });
  t.after(() => again.destroy());
  await again.setup(broker);
  full.length = 0;
  await again.outgoingEnqueueCombi([{ clientId: client.id }], publishTo('a', Buffer.from('after restart'), 200));
  assert.deepEqual(full, ['historian:messages']);
  assert.equal(again.queuedMessages, 7);
});

test("an offline session's queue is bounded by bytes; an acknowledged message makes room again", async (t) => {
  const full: string[] = [];
  const store = new SqlitePersistence({ file: join(tempDir(t), 'mqtt.db'), queue: { maxMessages: null, maxBytes: 2500 }, onQueueFull: (_id, reason) => full.push(reason) });
  t.after(() => store.destroy());
  await store.setup(broker);
  const kilobyte = (i: number) => publishTo('a', Buffer.alloc(1000, i), i + 1);
  for (let i = 0; i < 3; i++) await store.outgoingEnqueueCombi([{ clientId: client.id }], kilobyte(i));
  assert.deepEqual(full, ['bytes'], 'two rows of 1000 bytes and their packets fit in 2500 bytes, a third does not');
  // Delivered with packet id 1 and acknowledged (what aedes does on PUBACK).
  await store.outgoingUpdate(client, { ...kilobyte(0), messageId: 1 });
  assert.ok(await store.outgoingClearMessageId(client, { messageId: 1 }));
  await store.outgoingEnqueueCombi([{ clientId: client.id }], kilobyte(3));
  assert.deepEqual(full, ['bytes']);
  assert.deepEqual((await store.outgoingStream(client).toArray()).map((p: { payload: Buffer }) => p.payload[0]), [1, 3]);
});

test('a session offline longer than the expiry is removed with its subscriptions, queue and QoS 2 state', async (t) => {
  const cleaned: string[] = [];
  const file = join(tempDir(t), 'mqtt.db');
  const store = new SqlitePersistence({ file, onIncomingCleaned: (id) => cleaned.push(id) });
  await store.setup(broker);
  const [gone, away, online] = [{ id: 'gone' }, { id: 'away' }, { id: 'online' }];
  for (const c of [gone, away, online]) {
    store.sessionOnline(c.id, false);
    await store.addSubscriptions(c, [{ topic: 'alarms/#', qos: 1 }]);
  }
  await store.incomingStorePacket(gone, { cmd: 'publish', topic: 'x', payload: Buffer.from('q2'), qos: 2, messageId: 9 });
  store.sessionOffline(gone.id, false, 1_000);
  store.sessionOffline(away.id, false, 5_000);
  for (let i = 0; i < 25; i++) await store.outgoingEnqueueCombi(await store.subscriptionsByTopic('alarms/x'), publishTo('alarms/x', Buffer.from(`m${i}`), i + 1));

  const expired = await store.expireSessions(3_000, 5_000);
  assert.deepEqual(expired, [{ clientId: 'gone', messages: 25 }]);
  assert.deepEqual(cleaned, ['gone']);
  assert.deepEqual(await store.subscriptionsByClient(gone), []);
  assert.deepEqual((await store.subscriptionsByTopic('alarms/x')).map((s) => s.clientId).sort(), ['away', 'online']);
  assert.equal((await store.outgoingStream(gone).toArray()).length, 0);
  await assert.rejects(store.incomingGetPacket(gone, { messageId: 9 }), /no such packet/);
  assert.equal((await store.outgoingStream(away).toArray()).length, 25, 'a session offline for less than the expiry stays');
  assert.equal(store.queuedMessages, 50);
  assert.deepEqual(await store.expireSessions(3_000, 1_000_000), [{ clientId: 'away', messages: 25 }], 'a connected session never expires');

  // After a restart, the sessions that were connected are offline from then on, and can expire.
  await store.destroy();
  const again = new SqlitePersistence({ file });
  t.after(() => again.destroy());
  await again.setup(broker);
  assert.deepEqual(await again.expireSessions(60_000), [], 'offline only since the restart');
  assert.deepEqual(await again.expireSessions(0, Date.now() + 1), [{ clientId: 'online', messages: 25 }]);
});

test('a session file from before sessions were recorded: its sessions get an expiry clock at start-up', async (t) => {
  const file = join(tempDir(t), 'mqtt.db');
  const first = new SqlitePersistence({ file });
  await first.setup(broker);
  await first.addSubscriptions(client, [{ topic: 'alarms/#', qos: 1 }]);
  await first.destroy();
  // As an older Tributary left it: subscriptions, but no sessions table.
  const db = new Database(file);
  db.exec('DROP TABLE sessions');
  db.close();
  const second = new SqlitePersistence({ file });
  t.after(() => second.destroy());
  await second.setup(broker);
  assert.deepEqual(await second.expireSessions(0, Date.now() + 1), [{ clientId: 'historian', messages: 0 }]);
});

test('replication: changes of subscriptions and retained messages are told; applied ones are not, and an applied session expires from then', async (t) => {
  const told: unknown[] = [];
  const leader = new SqlitePersistence({ file: join(tempDir(t), 'mqtt.db'), onSubscriptionsChanged: (c) => told.push(c), onRetainedChanged: (topic, p) => told.push([topic, p?.payload.toString() ?? null]) });
  t.after(() => leader.destroy());
  await leader.setup(broker);
  await leader.addSubscriptions(client, [{ topic: 'a/#', qos: 1 }]);
  await leader.removeSubscriptions(client, ['a/#']);
  await leader.addSubscriptions(client, [{ topic: 'b', qos: 2 }]);
  await leader.cleanSubscriptions(client);
  await leader.storeRetained({ topic: 'r', payload: Buffer.from('on'), qos: 1, retain: true });
  await leader.storeRetained({ topic: 'r', payload: Buffer.alloc(0), qos: 1, retain: true });
  assert.deepEqual(told, [
    { op: 'add', clientId: 'historian', subs: [{ topic: 'a/#', qos: 1 }] },
    { op: 'remove', clientId: 'historian', topics: ['a/#'] },
    { op: 'add', clientId: 'historian', subs: [{ topic: 'b', qos: 2 }] },
    { op: 'clean', clientId: 'historian' },
    ['r', 'on'],
    ['r', null],
  ]);

  const toldFollower: unknown[] = [];
  const follower = new SqlitePersistence({ file: join(tempDir(t), 'mqtt.db'), onSubscriptionsChanged: (c) => toldFollower.push(c), onRetainedChanged: (topic) => toldFollower.push(topic) });
  t.after(() => follower.destroy());
  await follower.setup(broker);
  follower.applySubscriptions({ op: 'add', clientId: 'historian', subs: [{ topic: 'a/#', qos: 1 }] });
  follower.applyRetained('r', { topic: 'r', payload: Buffer.from('on'), qos: 1, retain: true });
  assert.deepEqual(await follower.subscriptionsByClient(client), [{ topic: 'a/#', qos: 1 }]);
  assert.deepEqual(follower.retainedMessages().map(([topic]) => topic), ['r']);
  assert.deepEqual(toldFollower, []);
  // Expired by this node (leading by then): that change is its own, and told.
  assert.deepEqual((await follower.expireSessions(0, Date.now() + 1)).map((e) => e.clientId), ['historian']);
  assert.deepEqual(await follower.subscriptionsByClient(client), []);
  assert.deepEqual(toldFollower, [{ op: 'clean', clientId: 'historian' }, { op: 'disown', clientId: 'historian' }]);
});

test('replication: a persistent session owner is told when claimed and released, and applied on a follower without telling', async (t) => {
  const told: unknown[] = [];
  const leader = new SqlitePersistence({ file: join(tempDir(t), 'mqtt.db'), onSubscriptionsChanged: (c) => told.push(c) });
  t.after(() => leader.destroy());
  await leader.setup(broker);
  leader.claimSession('historian', 'ops');
  leader.claimSession('plc-1', null);
  leader.releaseSession('plc-1');
  assert.deepEqual(told, [
    { op: 'owner', clientId: 'historian', username: 'ops' },
    { op: 'owner', clientId: 'plc-1', username: null },
    { op: 'disown', clientId: 'plc-1' },
  ]);
  assert.deepEqual(leader.sessionOwners(), [['historian', 'ops']]);

  const toldFollower: unknown[] = [];
  const follower = new SqlitePersistence({ file: join(tempDir(t), 'mqtt.db'), onSubscriptionsChanged: (c) => toldFollower.push(c) });
  t.after(() => follower.destroy());
  await follower.setup(broker);
  for (const change of told) follower.applySubscriptions(change as Parameters<SqlitePersistence['applySubscriptions']>[0]);
  assert.equal(follower.sessionOwner('historian'), 'ops');
  assert.equal(follower.sessionOwner('plc-1'), undefined);
  assert.deepEqual(toldFollower, []);
});

test('a shared subscription ($share/...) is kept for its session but matches no topic here: its share group delivers it (shared-subscriptions.ts)', async (t) => {
  const file = join(tempDir(t), 'mqtt.db');
  const first = new SqlitePersistence({ file });
  await first.setup(broker);
  await first.addSubscriptions(client, [{ topic: '$share/g/alarms/#', qos: 1 }, { topic: 'alarms/#', qos: 1 }]);
  await first.addSubscriptions({ id: 'other' }, [{ topic: '$share/g/alarms/#', qos: 2 }]);
  assert.deepEqual((await first.subscriptionsByTopic('$share/g/alarms/x')).map((s) => s.clientId), [], 'a publish on the literal topic $share/... is queued for nobody');
  assert.deepEqual((await first.subscriptionsByTopic('alarms/x')).map((s) => s.topic), ['alarms/#'], 'only the plain subscription matches');
  assert.equal(first.hasSubscriber('$share/g/alarms/x'), false);
  assert.deepEqual(first.sharedSubscribers('$share/g/alarms/#'), [{ clientId: 'historian', qos: 1 }, { clientId: 'other', qos: 2 }]);
  await first.destroy();

  const second = new SqlitePersistence({ file });
  t.after(() => second.destroy());
  await second.setup(broker);
  assert.deepEqual(second.sharedTopics(), ['$share/g/alarms/#']);
  await second.removeSubscriptions({ id: 'other' }, ['$share/g/alarms/#']);
  await second.cleanSubscriptions(client);
  assert.deepEqual(second.sharedSubscribers('$share/g/alarms/#'), []);
  assert.deepEqual(second.sharedTopics(), []);
});
