// The patches applied to aedes 2.0.0-beta.1 on install (patches/, docs/mqtt5.md), one test each, on
// a whole Tributary node over real sockets: the four fixes of aedes 1.2.0 that the beta lacks, and
// the beta's loss of queued messages on a v5 resume, and the later ones (reason codes, the client's
// limits, shared subscriptions handed to our share groups). Each fails on the unpatched beta.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { connackOf, startNodeAtBudget } from '../helpers/disk-budget.js';
import { connect, startTestNode } from '../helpers/mqtt-node.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { waitFor } from '../helpers/wait-for.js';

const portOf = (url: string): number => Number(new URL(url).port);

function storedValues(node: Awaited<ReturnType<typeof startTestNode>>['node']): string[] {
  return node.log.read('mqtt', 0, 0, { maxRecords: 10_000 }).records.map((r) => r.value!.toString());
}

async function rawClient(t: Parameters<typeof startTestNode>[0], url: string): Promise<RawMqtt> {
  const raw = await RawMqtt.open(portOf(url));
  t.after(() => raw.destroy());
  return raw;
}

test('GHSA-52qw-whmv-87c5: client id "constructor" and filters "__proto__", "constructor" in one SUBSCRIBE work like any other', async (t) => {
  const { url } = await startTestNode(t);
  const received: string[] = [];
  const client = await connect(t, url, { clientId: 'constructor' }, (topic, payload) => received.push(`${topic}=${payload.toString()}`));
  const granted = await client.subscribeAsync(['__proto__', 'constructor'], { qos: 1 });
  assert.deepEqual(
    granted.map((g) => `${g.topic}:${g.qos}`).sort(),
    ['__proto__:1', 'constructor:1'],
  );
  const other = await connect(t, url, { clientId: '__proto__' });
  await other.publishAsync('__proto__', 'a', { qos: 1 });
  await other.publishAsync('constructor', 'b', { qos: 1 });
  await waitFor(() => received.length === 2, 'both messages');
  assert.deepEqual(received.sort(), ['__proto__=a', 'constructor=b']);
  // A second connection with the id takes the session over [MQTT-3.1.4-2].
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  await connect(t, url, { clientId: 'constructor' });
  await closed;
});

test('a failing PUBREL delete (a duplicate PUBREL in the same read) still gets PUBCOMP and does not take the process down', async (t) => {
  const { node, url } = await startTestNode(t);
  const raw = await rawClient(t, url);
  await raw.connect('pubrel-twice');
  raw.send({ cmd: 'publish', topic: 'lines/7', payload: Buffer.from('once'), qos: 2, messageId: 7, retain: false, dup: false });
  await raw.next('pubrec', 7);
  raw.send({ cmd: 'pubrel', messageId: 7 }, { cmd: 'pubrel', messageId: 7 });
  await raw.next('pubcomp', 7);
  await raw.next('pubcomp', 7);
  // The connection and the node go on.
  raw.send({ cmd: 'publish', topic: 'lines/7', payload: Buffer.from('after'), qos: 2, messageId: 8, retain: false, dup: false });
  await raw.next('pubrec', 8);
  assert.deepEqual(storedValues(node), ['once', 'after']);
});

test('a QoS 2 flood without PUBREL is cut off at 1,000 messages awaiting PUBREL (aedes maxInflightInbound)', async (t) => {
  const { url } = await startTestNode(t);
  const raw = await rawClient(t, url);
  await raw.connect('half-open');
  const publishes: Packet[] = Array.from({ length: 1001 }, (_, i) => ({
    cmd: 'publish', topic: 'flood', payload: Buffer.from(String(i)), qos: 2, messageId: i + 1, retain: false, dup: false,
  }));
  for (let i = 0; i < publishes.length; i += 100) raw.send(...publishes.slice(i, i + 100));
  // PUBRECs still waiting their turn when the connection closes are not sent: the client resends those.
  const outcome = await Promise.race([raw.closed.then(() => 'closed'), raw.next('pubrec', 1001).then(() => 'PUBREC for the 1,001st')]);
  assert.equal(outcome, 'closed', 'the 1,001st is refused by closing the connection');
  assert.equal(raw.received.filter((p) => p.cmd === 'pubrec' && p.messageId === 1001).length, 0);
});

test('[MQTT-3.1.2-6] a clean session leaves no QoS 2 state behind: the same packet id is a new message in the next clean session', async (t) => {
  const { node, url } = await startTestNode(t);
  const received: string[] = [];
  await connect(t, url, { clientId: 'watcher' }, (_topic, payload) => received.push(payload.toString()));
  const watcher = await connect(t, url, { clientId: 'watcher-2' }, (_topic, payload) => received.push(payload.toString()));
  await watcher.subscribeAsync('valves/#', { qos: 2 });

  const first = await rawClient(t, url);
  await first.connect('valve-9', true);
  first.send({ cmd: 'publish', topic: 'valves/9', payload: Buffer.from('open'), qos: 2, messageId: 5, retain: false, dup: false });
  await first.next('pubrec', 5);
  first.destroy(); // gone before PUBREL: the session (clean) ends here
  await first.closed;
  await waitFor(() => received.includes('open'), 'the first message');

  const second = await rawClient(t, url);
  await second.connect('valve-9', true);
  second.send({ cmd: 'publish', topic: 'valves/9', payload: Buffer.from('closed'), qos: 2, messageId: 5, retain: false, dup: false });
  await second.next('pubrec', 5);
  second.send({ cmd: 'pubrel', messageId: 5 });
  await second.next('pubcomp', 5);
  await waitFor(() => received.includes('closed'), 'the second message, delivered: not taken for a duplicate of the first');
  assert.deepEqual(storedValues(node), ['open', 'closed']);
});

test('[MQTT-3.1.2-5] a v5 session resumed without a Session Expiry Interval gets the messages queued while it was away', async (t) => {
  const { url } = await startTestNode(t);
  const away = await connect(t, url, { clientId: 'oqws', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 99_999 } });
  await away.subscribeAsync('oqws/#', { qos: 2 });
  await away.endAsync();

  const publisher = await connect(t, url, { clientId: 'oqws-publisher', protocolVersion: 5 });
  await publisher.publishAsync('oqws/1', 'queued', { qos: 1 });

  const received: string[] = [];
  const back = await connect(t, url, { clientId: 'oqws', protocolVersion: 5, clean: false }, (topic, payload) => received.push(`${topic}=${payload.toString()}`));
  assert.equal((back as unknown as { connackPacket?: { sessionPresent?: boolean } }).connackPacket?.sessionPresent ?? true, true);
  await waitFor(() => received.length === 1, 'the queued message');
  assert.deepEqual(received, ['oqws/1=queued']);
});

test('[MQTT-3.3.4-7] [MQTT-3.1.2-25] deliveries keep to a v5 client\'s Receive Maximum and Maximum Packet Size', async (t) => {
  const { url } = await startTestNode(t);
  const raw = await RawMqtt.open(portOf(url), undefined, 5);
  t.after(() => raw.destroy());
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'window-2', clean: true, keepalive: 60, properties: { receiveMaximum: 2, maximumPacketSize: 100 } });
  await raw.next('connack');
  const send5 = (packet: Packet): boolean => raw.socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
  send5({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'win/#', qos: 1 }, { topic: 'mark/#', qos: 0 }] });
  await raw.next('suback');
  const publishes = (): Array<{ topic: string; payload: string; messageId?: number }> =>
    raw.received.filter((p) => p.cmd === 'publish').map((p) => ({ topic: (p as { topic: string }).topic, payload: String((p as { payload: Buffer }).payload), messageId: (p as { messageId?: number }).messageId }));

  const publisher = await connect(t, url, { clientId: 'window-publisher', protocolVersion: 5 });
  // Too large for the client (100 bytes): discarded, as if delivered, at QoS 1 and 0.
  await publisher.publishAsync('win/big', Buffer.alloc(200, 0x62), { qos: 1 });
  await publisher.publishAsync('mark/big', Buffer.alloc(200, 0x62), { qos: 0 });
  for (let i = 1; i <= 5; i++) await publisher.publishAsync('win/m', `m${i}`, { qos: 1 });
  // QoS 0 is outside the window: once this marker is here, the five have been handled.
  await publisher.publishAsync('mark/1', 'after five', { qos: 0 });
  await waitFor(() => publishes().some((p) => p.topic === 'mark/1'), 'the marker');
  assert.deepEqual(publishes().filter((p) => p.topic === 'win/m').map((p) => p.payload), ['m1', 'm2'], 'two in flight, no more');
  // Each PUBACK lets the next one out, in order.
  for (let answered = 0; answered < 5; answered++) {
    const sent = publishes().filter((p) => p.topic === 'win/m');
    send5({ cmd: 'puback', messageId: sent[answered]!.messageId! });
    if (answered + 2 < 5) await waitFor(() => publishes().filter((p) => p.topic === 'win/m').length === answered + 3, `m${answered + 3}`);
  }
  assert.deepEqual(publishes().map((p) => p.payload), ['m1', 'm2', 'after five', 'm3', 'm4', 'm5']);
});

test('[MQTT-4.8.2] patch 008: a $share/ subscription goes to the embedder\'s share groups: CONNACK Shared Subscription Available, SUBACK granted (not 0x9E), each message to one member', async (t) => {
  const { url } = await startTestNode(t);
  const got: string[] = [];
  const members = [];
  for (const clientId of ['share-1', 'share-2']) {
    const member = await connect(t, url, { clientId, protocolVersion: 5 }, (_topic, payload) => got.push(`${clientId}:${payload.toString()}`));
    const connack = (member as unknown as { connackPacket?: { properties?: { sharedSubscriptionAvailable?: boolean } } }).connackPacket;
    assert.equal(connack?.properties?.sharedSubscriptionAvailable, true);
    const [granted] = await member.subscribeAsync('$share/g/jobs', { qos: 1 });
    assert.equal(granted!.qos, 1, 'granted QoS 1, not 0x9E');
    members.push(member);
  }
  const publisher = await connect(t, url, { clientId: 'share-publisher', protocolVersion: 5 });
  for (const job of ['a', 'b', 'c', 'd']) await publisher.publishAsync('jobs', job, { qos: 1 });
  await waitFor(() => got.length === 4, 'four deliveries');
  assert.deepEqual(got.map((g) => g.split(':')[1]).sort(), ['a', 'b', 'c', 'd'], 'each message once');
  assert.equal(got.filter((g) => g.startsWith('share-1:')).length, 2, 'in turn');
});

test('MQTT 5.0 section 3.3.2.3.4, patch 009: a v5 client allowing Topic Aliases gets its first topics aliased, up to its maximum; one that does not, none', async (t) => {
  const { url } = await startTestNode(t);
  const subscriber = async (clientId: string, properties: Record<string, number>): Promise<{ raw: RawMqtt; publishes: () => Array<[string, number | undefined, string]> }> => {
    const raw = await RawMqtt.open(portOf(url), undefined, 5);
    t.after(() => raw.destroy());
    const send5 = (packet: Packet): boolean => raw.socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
    send5({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 60, properties });
    await raw.next('connack');
    send5({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'al/#', qos: 0, nl: false, rap: false, rh: 0 }] });
    await raw.next('suback');
    const publishes = (): Array<[string, number | undefined, string]> =>
      raw.received
        .filter((p) => p.cmd === 'publish')
        .map((p) => {
          const publish = p as { topic: string; payload: Buffer; properties?: { topicAlias?: number } };
          return [publish.topic, publish.properties?.topicAlias, publish.payload.toString()];
        });
    return { raw, publishes };
  };
  const aliased = await subscriber('aliases-2', { topicAliasMaximum: 2 });
  const plain = await subscriber('aliases-none', {});
  const publisher = await connect(t, url, { clientId: 'aliases-publisher', protocolVersion: 5 });
  const sent: Array<[string, string]> = [['al/a', '1'], ['al/a', '2'], ['al/b', '3'], ['al/c', '4'], ['al/b', '5']];
  for (const [topic, payload] of sent) await publisher.publishAsync(topic, payload, { qos: 1 });
  await waitFor(() => aliased.publishes().length === 5 && plain.publishes().length === 5, 'five at each');
  assert.deepEqual(aliased.publishes(), [
    ['al/a', 1, '1'],
    ['', 1, '2'],
    ['al/b', 2, '3'],
    ['al/c', undefined, '4'],
    ['', 2, '5'],
  ]);
  assert.deepEqual(plain.publishes(), sent.map(([topic, payload]) => [topic, undefined, payload]));
  // MQTT.js, allowing aliases, reads them back as the topics.
  const got: string[] = [];
  await connect(t, url, { clientId: 'aliases-mqttjs', protocolVersion: 5, properties: { topicAliasMaximum: 4 } }, (topic, payload) => got.push(`${topic}=${payload.toString()}`)).then((c) => c.subscribeAsync('al/#'));
  for (const [topic, payload] of sent) await publisher.publishAsync(topic, payload, { qos: 1 });
  await waitFor(() => got.length === 5, 'five at MQTT.js');
  assert.deepEqual(got, sent.map(([topic, payload]) => `${topic}=${payload}`));
});

test('[MQTT-3.3.4-4] patch 010: a PUBLISH matching several of a v5 client\'s subscriptions carries all their Subscription Identifiers (Paho test_subscribe_identifiers)', async (t) => {
  const { url } = await startTestNode(t);
  // As Paho's test: one client with one subscription, another with a filter and its parent's '#'.
  const got: Array<[string, string, unknown]> = [];
  const subscriber = async (clientId: string, subscriptions: Array<[string, number | undefined]>): Promise<void> => {
    const client = await connect(t, url, { clientId, protocolVersion: 5 });
    client.on('message', (topic, payload, packet) => got.push([clientId, `${topic}=${payload.toString()}`, packet.properties?.subscriptionIdentifier]));
    for (const [filter, id] of subscriptions) await client.subscribeAsync(filter, { qos: 1, ...(id === undefined ? {} : { properties: { subscriptionIdentifier: id } }) });
  };
  await subscriber('sid-a', [['sid/t', 456789]]);
  await subscriber('sid-b', [['sid/t', 2], ['sid/t/#', 3], ['sid/+/x', 4]]);
  await subscriber('sid-c', [['sid/t', undefined], ['sid/#', 7]]);
  const publisher = await connect(t, url, { clientId: 'sid-publisher', protocolVersion: 5 });
  await publisher.publishAsync('sid/t', 'one', { qos: 1 });
  await publisher.publishAsync('sid/t/x', 'two', { qos: 1 });
  await waitFor(() => got.length === 5, 'five deliveries');
  const sorted = (ids: unknown): unknown => (Array.isArray(ids) ? [...(ids as number[])].sort((a, b) => a - b) : ids);
  assert.deepEqual(new Map(got.map(([client, message, ids]) => [`${client} ${message}`, sorted(ids)])), new Map<string, unknown>([
    ['sid-a sid/t=one', 456789],
    ['sid-b sid/t=one', [2, 3]],
    ['sid-b sid/t/x=two', [3, 4]],
    ['sid-c sid/t=one', 7], // its plain subscription has none; the other's is given
    ['sid-c sid/t/x=two', 7],
  ]));
});

test('MQTT 5.0 section 3.2.2.2, patch 011: an authenticate error\'s reasonCode is the v5 CONNACK\'s (0x89 Server busy while the log holds back, not 0x88 from return code 3)', async (t) => {
  const { node, url, publisher } = await startNodeAtBudget(t);
  const retriesBefore = node.mqtt.stats.appendRetries;
  void publisher.publishAsync('plant/press', Buffer.from('held'), { qos: 1 }).catch(() => undefined);
  await waitFor(() => node.mqtt.stats.appendRetries > retriesBefore, 'a held append', 30_000);
  assert.equal((await connackOf(t, url, { clientId: 'patched-v5', protocolVersion: 5 })).reasonCode, 0x89);
  // A 3.1.1 client still gets the return code.
  assert.equal((await connackOf(t, url, { clientId: 'patched-v4', protocolVersion: 4 })).returnCode, 3);
});
