// Shared subscriptions `$share/{ShareName}/{filter}` (MQTT 5.0 section 4.8.2) on a whole node over
// real sockets, with MQTT.js (5.0 and 3.1.1), raw packets where a client library would not send
// the packet, Debian's mosquitto_sub -V mqttv5 and Eclipse Paho for Python as members.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import mqttPacket, { type IConnackPacket, type ISubackPacket, type Packet } from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { parseShare } from '../../../bridge/mqtt/shared-subscriptions.js';
import { connect, startTestNode } from '../../helpers/mqtt-node.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { PATIENCE_MS, waitFor } from '../../helpers/wait-for.js';

const portOf = (url: string): number => Number(new URL(url).port);
const PAHO = fileURLToPath(new URL('../../../../test/helpers/paho-shared.py', import.meta.url));

/** A member that records what it receives: `${topic}=${payload}@qos`. */
async function member(t: TestContext, url: string, clientId: string, protocolVersion: 4 | 5, filter: string, qos: 0 | 1 | 2 = 1): Promise<{ client: MqttClient; got: string[] }> {
  const got: string[] = [];
  const client = await connect(t, url, { clientId, protocolVersion });
  client.on('message', (topic, payload, packet) => got.push(`${topic}=${payload.toString()}@${packet.qos}`));
  const [granted] = await client.subscribeAsync(filter, { qos });
  assert.equal(granted!.qos, qos, `${clientId} granted QoS ${qos} on ${filter}`);
  return { client, got };
}

/** A raw v5 connection: packets as mqtt-packet reads them with protocolVersion 5. */
async function raw5(t: TestContext, url: string, clientId: string, properties: Record<string, unknown> = {}): Promise<{ raw: RawMqtt; send: (p: Packet) => void; connack: IConnackPacket }> {
  const raw = await RawMqtt.open(portOf(url), undefined, 5);
  t.after(() => raw.destroy());
  const send = (packet: Packet): void => void raw.socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 60, properties });
  return { raw, send, connack: (await raw.next('connack')) as IConnackPacket };
}

const payloadsOf = (got: string[]): string[] => got.map((m) => m.split('=')[1]!.split('@')[0]!);

test('parseShare: $share/{ShareName}/{filter}, a ShareName without / + #, a filter after it', () => {
  assert.deepEqual(parseShare('$share/g/a/+/#'), { shareName: 'g', filter: 'a/+/#' });
  assert.deepEqual(parseShare('$share/g/#'), { shareName: 'g', filter: '#' });
  for (const bad of ['$share/g', '$share//t', '$share/g/', '$share/a+/t', '$share/a#b/t', '$share/+/t', 't/$share/g/t']) assert.equal(parseShare(bad), null, bad);
});

test('[MQTT-4.8.2] each message goes to exactly one member (5.0 and 3.1.1 members, in turn), with the subscription\'s QoS; a plain subscriber still gets all', async (t) => {
  const { url } = await startTestNode(t);
  const a = await member(t, url, 'share-a', 5, '$share/workers/jobs/#');
  const b = await member(t, url, 'share-b', 5, '$share/workers/jobs/#');
  const old = await member(t, url, 'share-311', 4, '$share/workers/jobs/#');
  const zero = await member(t, url, 'share-q0', 5, '$share/other/jobs/#', 0);
  const plain = await member(t, url, 'plain', 5, 'jobs/#');
  const publisher = await connect(t, url, { clientId: 'jobs-publisher', protocolVersion: 5 });
  const sent: string[] = [];
  for (let i = 0; i < 30; i++) {
    sent.push(`j${i}`);
    await publisher.publishAsync(`jobs/${i % 3}`, `j${i}`, { qos: 1 });
  }
  const members = [a, b, old];
  await waitFor(() => members.reduce((n, m) => n + m.got.length, 0) >= 30 && plain.got.length === 30 && zero.got.length === 30, 'every message delivered');
  const shared = members.flatMap((m) => payloadsOf(m.got));
  assert.deepEqual([...shared].sort(), [...sent].sort(), 'the members\' sets are disjoint and their union is every message');
  for (const m of members) assert.equal(m.got.length, 10, 'round-robin: each of three members gets a third');
  assert.ok(members.every((m) => m.got.every((g) => g.endsWith('@1'))));
  assert.ok(zero.got.every((g) => g.endsWith('@0')), 'a QoS 0 shared subscription gets QoS 0');
  assert.deepEqual(payloadsOf(plain.got), sent);
});

test('CONNACK says Shared Subscription Available; SUBACK grants $share (no 0x9E); malformed share names get 0x8F (5.0) or 0x80 (3.1.1)', async (t) => {
  const { url } = await startTestNode(t);
  const { raw, send, connack } = await raw5(t, url, 'share-raw');
  assert.equal(connack.reasonCode, 0);
  assert.equal(connack.properties?.sharedSubscriptionAvailable, true);
  send({
    cmd: 'subscribe',
    messageId: 1,
    subscriptions: ['$share/g/t', '$share/a+b/t', '$share/a#/t', '$share//t', '$share/g/', '$share/g'].map((topic) => ({ topic, qos: 1 as const, nl: false, rap: false, rh: 0 })),
  });
  const suback = (await raw.next('suback')) as ISubackPacket;
  assert.deepEqual(suback.granted, [1, 0x8f, 0x8f, 0x8f, 0x8f, 0x8f]);

  const old = await RawMqtt.open(portOf(url));
  t.after(() => old.destroy());
  await old.connect('share-raw-311');
  old.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/t', qos: 1 }, { topic: '$share/a+b/t', qos: 1 }] });
  assert.deepEqual(((await old.next('suback')) as ISubackPacket).granted, [1, 0x80]);
});

test('[MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82', async (t) => {
  const { url } = await startTestNode(t);
  const { raw, send } = await raw5(t, url, 'share-nl');
  send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/t', qos: 1, nl: true, rap: false, rh: 0 }] });
  const disconnect = (await raw.next('disconnect')) as { reasonCode?: number };
  assert.equal(disconnect.reasonCode, 0x82);
  await raw.closed;
});

test('MQTT 5.0 §3.8.4: no retained message is sent on a shared subscribe (a plain one gets it)', async (t) => {
  const { url } = await startTestNode(t);
  const publisher = await connect(t, url, { clientId: 'retainer', protocolVersion: 5 });
  await publisher.publishAsync('state/door', 'open', { qos: 1, retain: true });
  const shared = await member(t, url, 'share-retained', 5, '$share/g/state/#');
  const plain = await member(t, url, 'plain-retained', 5, 'state/#');
  await waitFor(() => plain.got.length === 1, 'the plain subscriber\'s retained message');
  // A live message after it: once the shared member has it, a retained one would have come first.
  await publisher.publishAsync('state/door', 'closed', { qos: 1 });
  await waitFor(() => shared.got.length >= 1, 'the live message');
  assert.deepEqual(shared.got, ['state/door=closed@1']);
});

test('UNSUBSCRIBE $share/g/f leaves the group: the other member gets everything after it', async (t) => {
  const { url } = await startTestNode(t);
  const a = await member(t, url, 'leaver', 5, '$share/g/u/#');
  const b = await member(t, url, 'stayer', 5, '$share/g/u/#');
  await a.client.unsubscribeAsync('$share/g/u/#');
  const publisher = await connect(t, url, { clientId: 'u-publisher', protocolVersion: 5 });
  for (let i = 0; i < 6; i++) await publisher.publishAsync('u/x', `u${i}`, { qos: 1 });
  await waitFor(() => b.got.length === 6, 'all six at the member that stayed');
  assert.deepEqual(a.got, []);
});

test('offline persistent members: messages go to the connected ones; with none connected they queue on a persistent member, delivered when it returns', async (t) => {
  const { url } = await startTestNode(t);
  const session = { clientId: 'share-persistent', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };
  const away = await connect(t, url, session);
  await away.subscribeAsync('$share/g/q/#', { qos: 1 });
  await away.endAsync();
  const online = await member(t, url, 'share-online', 5, '$share/g/q/#');
  const publisher = await connect(t, url, { clientId: 'q-publisher', protocolVersion: 5 });
  for (let i = 0; i < 4; i++) await publisher.publishAsync('q/x', `to-online-${i}`, { qos: 1 });
  await waitFor(() => online.got.length === 4, 'the connected member has all four');
  await online.client.endAsync();
  for (let i = 0; i < 3; i++) await publisher.publishAsync('q/x', `queued-${i}`, { qos: 1 });
  const got: string[] = [];
  await connect(t, url, session, (topic, payload) => got.push(payload.toString()));
  await waitFor(() => got.length === 3, 'the three queued on the persistent member');
  assert.deepEqual(got, ['queued-0', 'queued-1', 'queued-2']);
});

test('with no member connected, a QoS 1 message is queued on a persistent member subscribed at QoS 1, not on one at QoS 0', async (t) => {
  const { url } = await startTestNode(t);
  const sessions = ['share-q0-away', 'share-q1-away'].map((clientId) => ({ clientId, protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } }));
  for (const [i, session] of sessions.entries()) {
    const away = await connect(t, url, session);
    await away.subscribeAsync('$share/g/z/#', { qos: i as 0 | 1 });
    await away.endAsync();
  }
  const publisher = await connect(t, url, { clientId: 'z-publisher', protocolVersion: 5 });
  for (let i = 0; i < 4; i++) await publisher.publishAsync('z/x', `z${i}`, { qos: 1 });
  const got: string[][] = [[], []];
  for (const [i, session] of sessions.entries()) await connect(t, url, session, (_topic, payload) => got[i]!.push(payload.toString()));
  await waitFor(() => got[1]!.length === 4, 'all four at the QoS 1 member');
  assert.deepEqual(got, [[], ['z0', 'z1', 'z2', 'z3']]);
});

test('a message queued on an offline persistent member carries its Subscription Identifier, as a live one does', async (t) => {
  const { url } = await startTestNode(t);
  const session = { clientId: 'share-si', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };
  const away = await connect(t, url, session);
  await away.subscribeAsync('$share/g/si/#', { qos: 1, properties: { subscriptionIdentifier: 7 } });
  await away.endAsync();
  const publisher = await connect(t, url, { clientId: 'si-publisher', protocolVersion: 5 });
  await publisher.publishAsync('si/x', 'queued', { qos: 1 });
  const got: Array<number | undefined> = [];
  // Attached before connecting (the queued message may come with the CONNACK); MQTT.js passes the packet third.
  const onMessage = (_topic: string, _payload: Buffer, packet: { properties?: { subscriptionIdentifier?: number | number[] } }): void => void got.push(packet.properties?.subscriptionIdentifier as number | undefined);
  await connect(t, url, session, onMessage as (topic: string, payload: Buffer) => void);
  await publisher.publishAsync('si/x', 'live', { qos: 1 });
  await waitFor(() => got.length === 2, 'the queued and the live message');
  assert.deepEqual(got, [7, 7]);
});

test('a persistent member\'s group survives a restart: a message published before it returns is queued for it', async (t) => {
  const dataDir = tempDir(t);
  const first = await startTestNode(t, {}, dataDir);
  const session = { clientId: 'share-restart', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };
  const away = await connect(t, first.url, session);
  await away.subscribeAsync('$share/g/r/#', { qos: 1 });
  await away.endAsync();
  await first.close();

  const second = await startTestNode(t, {}, dataDir);
  const publisher = await connect(t, second.url, { clientId: 'r-publisher', protocolVersion: 5 });
  await publisher.publishAsync('r/x', 'while away', { qos: 1 });
  const got: string[] = [];
  await connect(t, second.url, session, (topic, payload) => got.push(`${topic}=${payload.toString()}`));
  await waitFor(() => got.length === 1, 'the queued message');
  assert.deepEqual(got, ['r/x=while away']);
});

test('MQTT 5.0 §4.8.2: a clean member that leaves with QoS 1 messages unacknowledged: they go to another member', async (t) => {
  const { url } = await startTestNode(t);
  const { raw, send } = await raw5(t, url, 'share-silent');
  send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/h/#', qos: 1, nl: false, rap: false, rh: 0 }] });
  await raw.next('suback');
  const other = await member(t, url, 'share-answers', 5, '$share/g/h/#');
  const publisher = await connect(t, url, { clientId: 'h-publisher', protocolVersion: 5 });
  for (let i = 0; i < 4; i++) await publisher.publishAsync('h/x', `h${i}`, { qos: 1 });
  // The silent member acknowledges its first message only.
  const first = (await raw.next('publish')) as { messageId: number; payload: Buffer };
  send({ cmd: 'puback', messageId: first.messageId });
  const second = (await raw.next('publish')) as { payload: Buffer };
  await waitFor(() => other.got.length === 2, 'the other member\'s two');
  raw.destroy();
  await waitFor(() => other.got.length === 3, 'the unacknowledged one, given to the other member');
  assert.deepEqual(payloadsOf(other.got).sort(), ['h0', 'h1', 'h2', 'h3'].filter((p) => p !== first.payload.toString()).sort());
  assert.equal(payloadsOf(other.got).at(-1), second.payload.toString());
});

/** Spawns `command`; resolves with its stdout lines as they come. */
function spawnLines(t: TestContext, command: string, args: string[]): { lines: string[]; stdinEnd: () => void } {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buffer = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
  });
  child.on('error', (err) => lines.push(`error: ${err.message}`));
  t.after(() => child.kill());
  return { lines, stdinEnd: () => child.stdin.end() };
}

test('mosquitto_sub -V mqttv5 (two of them) and Paho for Python share $share/g/t: disjoint sets whose union is everything', async (t) => {
  const { node, url } = await startTestNode(t);
  const base = ['-h', '127.0.0.1', '-p', String(node.mqtt.ports.tcp), '-V', 'mqttv5', '-q', '1', '-t', '$share/g/t', '-F', '%p'];
  const mosquittos = [spawnLines(t, 'mosquitto_sub', [...base, '-i', 'mosq-share-1']), spawnLines(t, 'mosquitto_sub', [...base, '-i', 'mosq-share-2'])];
  const paho = spawnLines(t, '/usr/bin/python3', [PAHO, String(node.mqtt.ports.tcp), '$share/g/t']);
  await waitFor(() => paho.lines.includes('ready'), 'Paho subscribed');
  await waitFor(() => node.mqtt.connectedClients === 3, 'both mosquitto_sub connected');
  const probe = await connect(t, url, { clientId: 'mosq-probe', protocolVersion: 5 });
  const got = (m: { lines: string[] }): string[] => m.lines.filter((l) => l !== 'ready');
  const received = (): string[] => [...mosquittos, paho].flatMap(got);
  // mosquitto_sub's SUBSCRIBE may still be under way: publish until each member has had a turn.
  const sent: string[] = [];
  const deadline = Date.now() + PATIENCE_MS; // bounded by time, not count: on a loaded machine a SUBSCRIBE can take many publishes' time
  for (let i = 0; Date.now() < deadline && (sent.length < 30 || [...mosquittos, paho].some((m) => got(m).length === 0)); i++) {
    sent.push(`m${i}`);
    await probe.publishAsync('t', `m${i}`, { qos: 1 });
    if (i % 10 === 9) await waitFor(() => received().length === sent.length, 'what was sent so far');
  }
  await waitFor(() => received().length >= sent.length, 'every message');
  assert.deepEqual(received().sort(), [...sent].sort(), 'disjoint sets whose union is every message');
  for (const m of [...mosquittos, paho]) assert.ok(got(m).length > 0, 'each member got some');
  paho.stdinEnd();
});

test('MQTT 5.0 §4.8.2: a client with a shared and a plain subscription matching a message gets both copies, one from each (MQTT.js and mosquitto_sub -V mqttv5)', async (t) => {
  const { node, url } = await startTestNode(t);
  const publisher = await connect(t, url, { clientId: 'both-publisher', protocolVersion: 5 });
  // MQTT.js: the shared subscription first, then the plain one; and a member of two share groups.
  const both = await member(t, url, 'share-and-plain', 5, '$share/g/js/#');
  await both.client.subscribeAsync('js/#', { qos: 1 });
  const twoGroups = await member(t, url, 'two-groups', 5, '$share/g/js/#');
  await twoGroups.client.subscribeAsync('$share/h/js/#', { qos: 1 });
  for (const m of ['m1', 'm2', 'm3']) await publisher.publishAsync('js/m', m, { qos: 1 });
  // The two take turns in group g; two-groups has all of group h; share-and-plain all of its plain one.
  await waitFor(() => both.got.length + twoGroups.got.length === 9, 'nine copies');
  assert.deepEqual([...payloadsOf(both.got), ...payloadsOf(twoGroups.got)].sort(), ['m1', 'm1', 'm1', 'm2', 'm2', 'm2', 'm3', 'm3', 'm3'], 'each message: from group g, from group h, from the plain subscription');
  for (const m of ['m1', 'm2', 'm3']) assert.ok(payloadsOf(both.got).includes(m), `the plain subscription's ${m}`);

  // mosquitto_sub with both filters on one connection, the plain one first.
  const mosq = spawnLines(t, 'mosquitto_sub', ['-h', '127.0.0.1', '-p', String(node.mqtt.ports.tcp), '-V', 'mqttv5', '-q', '1', '-i', 'mosq-both', '-t', 'mq/m', '-t', '$share/m/mq/m', '-F', '%p']);
  // Its SUBSCRIBE may still be under way: probe until one probe has come twice (both filters in place).
  const twice = (): boolean => mosq.lines.some((line, i) => line.startsWith('probe') && mosq.lines.indexOf(line) !== i);
  for (let i = 0, deadline = Date.now() + PATIENCE_MS; Date.now() < deadline && !twice(); i++) await publisher.publishAsync('mq/m', `probe-${i}`, { qos: 1 });
  await waitFor(twice, 'mosquitto_sub subscribed to both');
  for (const m of ['m1', 'm2', 'm3']) await publisher.publishAsync('mq/m', m, { qos: 1 });
  const copies = (): string[] => mosq.lines.filter((l) => !l.startsWith('probe'));
  await waitFor(() => copies().length === 6, 'two copies of each at mosquitto_sub');
  assert.deepEqual(copies().sort(), ['m1', 'm1', 'm2', 'm2', 'm3', 'm3']);
});

test('MQTT 5.0 §4.8.2: a persistent member whose session expires with QoS 1 messages queued: they go to another member', async (t) => {
  const { node, url } = await startTestNode(t);
  const expiring = { clientId: 'share-expiring', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 1 } };
  const heir = { clientId: 'share-heir', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };
  for (const session of [expiring, heir]) {
    const away = await connect(t, url, session);
    await away.subscribeAsync('$share/g/ex/#', { qos: 1, properties: { subscriptionIdentifier: session === heir ? 9 : 8 } });
    await away.endAsync();
  }
  const publisher = await connect(t, url, { clientId: 'ex-publisher', protocolVersion: 5 });
  for (let i = 0; i < 4; i++) await publisher.publishAsync('ex/x', `ex${i}`, { qos: 1 });
  // No member connected: queued on the two sessions in turn. Then the first expires (1 s after its
  // connection closed) and its subscriptions go with it.
  const holds = (clientId: string): boolean => node.mqtt.subscriptionStore.list().some(([id]) => id === clientId);
  await waitFor(() => !holds('share-expiring'), 'the session expired');
  const got: Array<[string, unknown]> = [];
  const onMessage = (_topic: string, payload: Buffer, packet: { properties?: { subscriptionIdentifier?: unknown } }): void => void got.push([payload.toString(), packet.properties?.subscriptionIdentifier]);
  await connect(t, url, heir, onMessage as (topic: string, payload: Buffer) => void);
  // Without the hand-off, the heir has only its own two.
  await waitFor(() => got.length === 4, 'all four at the other member');
  assert.deepEqual(got.sort(), [['ex0', 9], ['ex1', 9], ['ex2', 9], ['ex3', 9]], 'each once, with the heir\'s own Subscription Identifier');
});
