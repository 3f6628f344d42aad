// A client id, and the session it made, belong to the user who made them: another user reusing the
// id is refused, never handed the session or allowed to drop its connection. What is delivered is
// checked against the receiver's ACL at delivery, also for queued and retained messages.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { ConfigInput } from '../../../bridge/config/schema.js';
import { hashPassword } from '../../../bridge/mqtt/passwords.js';
import { connect, connectionRefusal, startTestNode, type TestNode } from '../../helpers/mqtt-node.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { PATIENCE_MS, pollUntil, waitFor } from '../../helpers/wait-for.js';

const pressUsers = async (): Promise<ConfigInput['mqtt']> => ({
  auth: {
    users: [
      { username: 'press-a', password: await hashPassword('a-secret') },
      { username: 'press-b', password: await hashPassword('b-secret') },
    ],
    acl: [
      { user: '*', publish: ['dev/%u/#'], subscribe: ['dev/%u/#'] },
      { user: 'press-a', publish: ['status/press-a'], subscribe: ['status/#'] },
    ],
  },
});

const a = { username: 'press-a', password: 'a-secret' };
const b = { username: 'press-b', password: 'b-secret' };

/** press-a's dashboard makes a persistent session, goes offline, and its sensor publishes a secret. */
async function queueSecret(t: TestContext, url: string): Promise<void> {
  const dash = await connect(t, url, { ...a, clientId: 'press-a-dash', clean: false });
  await dash.subscribeAsync('dev/press-a/#', { qos: 1 });
  await dash.endAsync();
  const sensor = await connect(t, url, { ...a, clientId: 'press-a-sensor' });
  await sensor.publishAsync('dev/press-a/secret', 'SECRET-42', { qos: 1 });
  await sensor.endAsync();
}

test("another user cannot take over a persistent session: CONNACK 5, and the owner's queue and connection are untouched", async (t) => {
  const dataDir = tempDir(t);
  let running = await startTestNode(t, { mqtt: await pressUsers() }, dataDir);
  await queueSecret(t, running.url);

  assert.equal(await connectionRefusal(running.url, { ...b, clientId: 'press-a-dash', clean: false }), 'connack 5');
  assert.equal(await connectionRefusal(running.url, { ...b, clientId: 'press-a-dash', clean: true }), 'connack 5', 'nor wipe it with a clean session');
  assert.equal(running.node.mqtt.stats.connectionsRefused['client id belongs to another user'], 2);

  // Ownership is stored with the session: it holds across a restart.
  await running.close();
  running = await startTestNode(t, { mqtt: await pressUsers() }, dataDir);
  assert.equal(await connectionRefusal(running.url, { ...b, clientId: 'press-a-dash', clean: false }), 'connack 5');

  const seenByA: string[] = [];
  const dash = await connect(t, running.url, { ...a, clientId: 'press-a-dash', clean: false }, (_topic, payload) => seenByA.push(payload.toString()));
  assert.equal(dash.connected, true);
  await waitFor(() => seenByA.length === 1);
  assert.deepEqual(seenByA, ['SECRET-42'], 'the owner gets its queued message');

  // A live connection cannot be dropped by another user reusing its id.
  assert.equal(await connectionRefusal(running.url, { ...b, clientId: 'press-a-dash' }), 'connack 5');
  assert.equal(dash.connected, true);
  // The owner itself may take over, as MQTT intends [MQTT-3.1.4-2].
  const closed = new Promise<void>((resolve) => dash.once('close', () => resolve()));
  await connect(t, running.url, { ...a, clientId: 'press-a-dash', clean: false });
  await closed;
});

test('a clean session frees its client id when it ends; a persistent one keeps it', async (t) => {
  const { url } = await startTestNode(t, { mqtt: await pressUsers() });
  const first = await connect(t, url, { ...a, clientId: 'shared-screen', clean: true });
  assert.equal(await connectionRefusal(url, { ...b, clientId: 'shared-screen' }), 'connack 5', 'held while connected');
  await first.endAsync();
  // The server sees the close a moment after the client: until then the id is still held.
  let outcome = '';
  await pollUntil(async () => (outcome = await connectionRefusal(url, { ...b, clientId: 'shared-screen', clean: false })) === 'connected', PATIENCE_MS, 20);
  assert.equal(outcome, 'connected', 'free once the clean session ended');
  assert.equal(await connectionRefusal(url, { ...a, clientId: 'shared-screen' }), 'connack 5', 'now press-b made a persistent session with it');
});

test('mqtt.auth.clientIds: a client id outside the forms gets CONNACK 2; a server-assigned id is let in', async (t) => {
  const mqtt = await pressUsers();
  const { node, url } = await startTestNode(t, { mqtt: { ...mqtt, auth: { ...mqtt!.auth, clientIds: ['%u', '%u-*'] } } });
  assert.equal(await connectionRefusal(url, { ...a, clientId: 'press-a-dash' }), 'connected');
  assert.equal(await connectionRefusal(url, { ...b, clientId: 'press-a-dash' }), 'connack 2');
  assert.equal(await connectionRefusal(url, { ...b, clientId: 'press-b' }), 'connected');
  assert.equal(await connectionRefusal(url, { ...b, clientId: '' }), 'connected');
  assert.equal(node.mqtt.stats.connectionsRefused['client id not allowed'], 1);
});

test('a will on a topic outside the ACL is refused at CONNECT (it would be published when nobody can check it)', async (t) => {
  const { url } = await startTestNode(t, { mqtt: await pressUsers() });
  const will = (topic: string) => ({ topic, payload: Buffer.from('gone'), qos: 1 as const, retain: false });
  assert.equal(await connectionRefusal(url, { ...b, clientId: 'press-b', will: will('status/press-a') }), 'connack 5');
  assert.equal(await connectionRefusal(url, { ...a, clientId: 'press-a', will: will('status/press-a') }), 'connected');
});

test('queued, retained and live messages are checked against the ACL at delivery, as it is now', async (t) => {
  const dataDir = tempDir(t);
  const open = { auth: { ...(await pressUsers())!.auth, acl: [{ user: '*', publish: ['#'], subscribe: ['#'] }] } };
  let running = await startTestNode(t, { mqtt: open }, dataDir);
  const watcher = await connect(t, running.url, { ...b, clientId: 'press-b-watch', clean: false });
  await watcher.subscribeAsync('dev/#', { qos: 1 });
  await watcher.endAsync();
  const sensor = await connect(t, running.url, { ...a, clientId: 'press-a-sensor' });
  await sensor.publishAsync('dev/press-a/secret', 'queued', { qos: 1 });
  await sensor.publishAsync('dev/press-a/state', 'retained', { qos: 1, retain: true });
  await sensor.publishAsync('dev/press-b/state', 'own-retained', { qos: 1, retain: true });
  await running.close();

  // The ACL is narrowed: press-b may read only its own devices now. Its session still has 'dev/#'.
  running = await startTestNode(t, { mqtt: await pressUsers() }, dataDir);
  const seen: string[] = [];
  const back = await connect(t, running.url, { ...b, clientId: 'press-b-watch', clean: false }, (topic, payload) => seen.push(`${topic}=${payload.toString()}`));
  await back.subscribeAsync('dev/press-b/#', { qos: 1 }); // brings the retained messages it may read
  const live = await connect(t, running.url, { ...a, clientId: 'press-a-sensor' });
  await live.publishAsync('dev/press-a/secret', 'live', { qos: 1 });
  const own = await connect(t, running.url, { ...b, clientId: 'press-b-sensor' });
  await own.publishAsync('dev/press-b/temp', 'mine', { qos: 1 });
  await waitFor(() => seen.includes('dev/press-b/temp=mine'));
  // Its own retained message arrives twice: queued while it was away, and retained on SUBSCRIBE.
  assert.deepEqual(seen.sort(), ['dev/press-b/state=own-retained', 'dev/press-b/state=own-retained', 'dev/press-b/temp=mine']);
  assert.ok(running.node.mqtt.stats.deliveriesWithheld >= 2, `withheld ${running.node.mqtt.stats.deliveriesWithheld}`);
});

test('an expired session frees its client id for another user', async (t) => {
  const dataDir = tempDir(t);
  const mqtt = await pressUsers();
  let running = await startTestNode(t, { mqtt }, dataDir);
  const dash = await connect(t, running.url, { ...a, clientId: 'press-a-dash', clean: false });
  await dash.subscribeAsync('dev/press-a/#', { qos: 1 });
  await dash.endAsync();
  assert.equal(await connectionRefusal(running.url, { ...b, clientId: 'press-a-dash', clean: false }), 'connack 5');
  await running.close();
  // Restarted with an expiry that the session has outlived: it is removed at start-up, owner and all.
  await new Promise((resolve) => setTimeout(resolve, 5));
  running = await startTestNode(t, { mqtt: { ...mqtt, sessions: { expiry: '1ms' } } }, dataDir);
  assert.equal(running.node.mqtt.stats.sessionsExpired, 1);
  assert.equal(await connectionRefusal(running.url, { ...b, clientId: 'press-a-dash', clean: false }), 'connected');
});

/** A CONNECT whose connection drops while the broker checks its password (scrypt: tens of ms). */
async function connectAndDrop(node: TestNode['node'], clientId: string, clean: boolean, user: { username: string; password: string }): Promise<void> {
  const raw = await RawMqtt.open(node.mqtt.ports.tcp);
  await waitFor(() => node.mqtt.waitingForConnect === 1);
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean, keepalive: 60, username: user.username, password: Buffer.from(user.password) });
  await waitFor(() => node.mqtt.waitingForConnect === 0); // the CONNECT is whole: its password is being checked
  raw.destroy();
  await raw.closed;
}

test("a refused clean CONNECT with the owner's client id leaves the owner's QoS 2 state alone (a retransmission is still stored once)", async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: await pressUsers() });
  const port = node.mqtt.ports.tcp;
  const publish = (dup: boolean) => ({ cmd: 'publish', topic: 'dev/press-a/energy', payload: Buffer.from('kWh=10'), qos: 2, messageId: 7, dup, retain: false }) as const;
  const meter = await RawMqtt.open(port);
  meter.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'meter-1', clean: false, keepalive: 60, username: 'press-a', password: Buffer.from('a-secret') });
  assert.equal(((await meter.next('connack')) as { returnCode: number }).returnCode, 0);
  meter.send(publish(false));
  await meter.next('pubrec', 7);
  meter.destroy(); // the link drops before PUBREL
  await meter.closed;

  assert.equal(await connectionRefusal(url, { username: 'press-a', password: 'wrong', clientId: 'meter-1', clean: true }), 'connack 4');
  assert.equal(await connectionRefusal(url, { ...b, clientId: 'meter-1', clean: true }), 'connack 5');

  await waitFor(() => node.mqtt.connectedClients === 0);
  const back = await RawMqtt.open(port);
  t.after(() => back.destroy());
  back.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'meter-1', clean: false, keepalive: 60, username: 'press-a', password: Buffer.from('a-secret') });
  await back.next('connack');
  back.send(publish(true));
  await back.next('pubrec', 7);
  back.send({ cmd: 'pubrel', messageId: 7 });
  await back.next('pubcomp', 7);
  assert.deepEqual(node.log.read('mqtt', 0, 0).records.map((r) => r.value!.toString()), ['kWh=10']);
  assert.equal(node.mqtt.stats.duplicatesSkipped, 1);
});

test("the owner's own CONNECT dropped during authentication frees neither a live connection's id nor a stored session", async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: await pressUsers() });
  // A stored session with a queued message.
  await queueSecret(t, url);
  await connectAndDrop(node, 'press-a-dash', true, a);
  await connectAndDrop(node, 'press-a-dash', false, a);
  assert.equal(await connectionRefusal(url, { ...b, clientId: 'press-a-dash', clean: false }), 'connack 5');
  // A live connection.
  const live = await connect(t, url, { ...a, clientId: 'screen' });
  await connectAndDrop(node, 'screen', true, a);
  assert.equal(await connectionRefusal(url, { ...b, clientId: 'screen' }), 'connack 5');
  assert.equal(live.connected, true);
});
