// MQTT 5.0 beside 3.1.1 (issue 18, first slice), through the whole node with real clients: MQTT.js
// with protocolVersion 5 on TCP, TLS and WebSocket, and Debian's mosquitto_pub/mosquitto_sub with
// -V mqttv5. CONNACK announces the mqtt.v5 limits; QoS 0/1/2 publishes are in the log when their
// acknowledgement arrives; inbound topic aliases resolve; DISCONNECT's reason code decides the will.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { IClientOptions, MqttClient } from 'mqtt';
import mqttPacket, { type IConnackPacket } from 'mqtt-packet';
import { connect, startTestNode, type TestNode } from '../../helpers/mqtt-node.js';
import { runRawPublisher } from '../../../device-sim/raw-publisher.js';
import { makePki } from '../../helpers/pki.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { waitFor } from '../../helpers/wait-for.js';

const run = promisify(execFile);

const v5 = { receiveMaximum: 50, topicAliasMaximum: 8, serverKeepAlive: '20s' };

function stored(node: TestNode['node']): Array<{ key: string; value: string }> {
  return node.log.read('mqtt', 0, 0, { maxRecords: 100_000 }).records.map((r) => ({ key: r.key!.toString(), value: r.value!.toString() }));
}

/** Connects with MQTT 5.0 and resolves with the client and its CONNACK. */
async function connect5(t: Parameters<typeof connect>[0], url: string, options: IClientOptions = {}): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  let connack: IConnackPacket | undefined = undefined;
  const client = await connect(t, url, { protocolVersion: 5, ...options });
  connack = (client as unknown as { connackPacket?: IConnackPacket }).connackPacket;
  assert.ok(connack !== undefined, 'MQTT.js keeps the CONNACK');
  return { client, connack };
}

test('MQTT 5.0 on TCP, TLS and WebSocket: CONNACK announces mqtt.v5; QoS 0, 1 and 2 are in the log when acknowledged', async (t) => {
  const pki = makePki(t);
  const { node, url, wsUrl } = await startTestNode(t, { mqtt: { v5, tls: { port: 0, cert: pki.serverCert, key: pki.serverKey } } });
  const transports: Array<[string, string, IClientOptions]> = [
    ['tcp', url, {}],
    ['tls', `mqtts://127.0.0.1:${node.mqtt.ports.tls}`, { ca: readFileSync(pki.ca) }],
    ['ws', wsUrl, {}],
  ];
  const expected: Array<{ key: string; value: string }> = [];
  for (const [name, address, options] of transports) {
    const { client, connack } = await connect5(t, address, { clientId: `v5-${name}`, keepalive: 0, ...options });
    assert.equal(connack.reasonCode, 0, name);
    const p = connack.properties ?? {};
    assert.equal(p.receiveMaximum, 50, `${name}: Receive Maximum from mqtt.v5.receiveMaximum`);
    assert.equal(p.topicAliasMaximum, 8, `${name}: Topic Alias Maximum from mqtt.v5.topicAliasMaximum`);
    assert.equal(p.serverKeepAlive, 20, `${name}: a client asking for no keep-alive gets mqtt.v5.serverKeepAlive`);
    // 2 + 1024 × 4 + 2 + (4 + 16 KiB) + 1 MiB of body, with a 3-byte Remaining Length and the type byte.
    assert.equal(p.maximumPacketSize, 1 + 3 + 2 + 1024 * 4 + 2 + 4 + 16_384 + 1_048_576, `${name}: Maximum Packet Size from the limits`);
    for (const qos of [0, 1, 2] as const) {
      const value = `${name} at qos ${qos}`;
      await client.publishAsync(`v5/${name}/qos${qos}`, value, { qos, properties: { userProperties: { site: 'hall-3' } } });
      expected.push({ key: `v5/${name}/qos${qos}`, value });
      // QoS 1 and 2: the PUBACK / PUBCOMP came, so the record must already be in the log.
      if (qos > 0) assert.deepEqual(stored(node).at(-1), expected.at(-1), `${name}: acknowledged before stored`);
    }
  }
  await waitFor(() => stored(node).length === expected.length, 'the QoS 0 publishes too');
  assert.deepEqual(stored(node), expected);
});

test('MQTT 5.0 and 3.1.1 side by side: a 3.1.1 client sees no CONNACK properties and its keep-alive stands', async (t) => {
  const { url } = await startTestNode(t, { mqtt: { v5 } });
  const v311 = await connect(t, url, { clientId: 'old-timer', protocolVersion: 4, keepalive: 0 });
  const connack = (v311 as unknown as { connackPacket: IConnackPacket }).connackPacket;
  assert.equal(connack.properties, undefined);
  const { connack: asked } = await connect5(t, url, { clientId: 'short-keepalive', keepalive: 10 });
  assert.equal(asked.properties?.serverKeepAlive, undefined, 'a v5 client asking for less than mqtt.v5.serverKeepAlive keeps its own');
});

test('MQTT 5.0 inbound topic aliases: an alias set once names the topic of later publishes in the log', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { v5 } });
  const { client } = await connect5(t, url, { clientId: 'aliaser' });
  await client.publishAsync('line/4/press', 'first', { qos: 1, properties: { topicAlias: 3 } });
  await client.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 3 } });
  assert.deepEqual(stored(node), [
    { key: 'line/4/press', value: 'first' },
    { key: 'line/4/press', value: 'second' },
  ]);
});

test('MQTT 5.0 DISCONNECT reason codes: 0x04 publishes the will into the log, 0x00 does not', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { v5 } });
  const will = (id: string): IClientOptions['will'] => ({ topic: `wills/${id}`, payload: Buffer.from(`${id} gone`), qos: 1, retain: false });
  const withWill = (await connect5(t, url, { clientId: 'leaves-will', will: will('leaves-will') })).client;
  const without = (await connect5(t, url, { clientId: 'leaves-none', will: will('leaves-none') })).client;
  await without.endAsync(false, { reasonCode: 0x00 });
  await withWill.endAsync(false, { reasonCode: 0x04 });
  await waitFor(() => stored(node).length > 0, 'the will of the client that asked for it');
  // A marker after both DISCONNECTs: anything the first would have caused is in the log before it.
  const marker = (await connect5(t, url, { clientId: 'marker' })).client;
  await marker.publishAsync('marker', 'last', { qos: 1 });
  assert.deepEqual(stored(node), [
    { key: 'wills/leaves-will', value: 'leaves-will gone' },
    { key: 'marker', value: 'last' },
  ]);
});

test('mosquitto_pub and mosquitto_sub -V mqttv5: QoS 0, 1 and 2 stored, user properties delivered', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { v5 } });
  const base = ['-h', '127.0.0.1', '-p', String(node.mqtt.ports.tcp), '-V', 'mqttv5'];
  const sub = spawn('mosquitto_sub', [...base, '-i', 'mosq5-sub', '-t', 'cell/#', '-q', '2', '-C', '3', '-F', '%t %p %P'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let received = '';
  sub.stdout.on('data', (chunk: Buffer) => (received += chunk.toString()));
  const subExited = new Promise<number | null>((resolve, reject) => {
    sub.on('error', (err) => reject(new Error(`mosquitto_sub could not run (install the Debian package mosquitto-clients): ${err.message}`)));
    sub.on('close', resolve);
  });
  t.after(() => sub.kill());
  await waitFor(() => node.mqtt.connectedClients === 1, 'mosquitto_sub connected');
  // Its SUBSCRIBE may still be under way: a retained marker is delivered on subscribing either way.
  await run('mosquitto_pub', [...base, '-i', 'mosq5-probe', '-t', 'cell/ready', '-m', 'yes', '-q', '1', '-r', '-D', 'publish', 'user-property', 'k', 'v']);
  for (const qos of ['1', '2']) {
    await run('mosquitto_pub', [...base, '-i', `mosq5-pub-${qos}`, '-t', `cell/qos${qos}`, '-m', `at qos ${qos}`, '-q', qos, '-D', 'publish', 'user-property', 'line', '7']);
  }
  await run('mosquitto_pub', [...base, '-i', 'mosq5-pub-0', '-t', 'cell/qos0', '-m', 'at qos 0', '-q', '0']);
  assert.equal(await subExited, 0);
  const lines = received.trim().split('\n');
  assert.equal(lines[0], 'cell/ready yes k:v');
  assert.deepEqual(lines.slice(1).sort(), ['cell/qos1 at qos 1 line:7', 'cell/qos2 at qos 2 line:7']);
  await waitFor(() => stored(node).length === 4, 'the QoS 0 publish stored');
  assert.deepEqual(stored(node).map((r) => r.value), ['yes', 'at qos 1', 'at qos 2', 'at qos 0']);
});

function headersOf(node: TestNode['node'], index: number): Array<[string, string]> {
  const record = node.log.read('mqtt', 0, 0, { maxRecords: 1000 }).records[index]!;
  return record.headers.map(([name, value]) => [name, value === null ? '<null>' : name === 'mqtt.correlation_data' ? value.toString('hex') : value.toString()]);
}

test('MQTT 5.0 properties are stored as record headers after the mqtt.* ones; a 3.1.1 record has only those', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { v5 } });
  const { client } = await connect5(t, url, { clientId: 'props' });
  await client.publishAsync('lab/ph', '7.1', {
    qos: 1,
    properties: {
      payloadFormatIndicator: true,
      messageExpiryInterval: 3600,
      contentType: 'text/plain',
      responseTopic: 'lab/ph/reply',
      correlationData: Buffer.from([0xca, 0xfe]),
      userProperties: { site: 'hall-3', line: ['1', '2'] },
      topicAlias: 2,
    },
  });
  assert.deepEqual(headersOf(node, 0), [
    ['mqtt.topic', 'lab/ph'],
    ['mqtt.qos', '1'],
    ['mqtt.retain', 'false'],
    ['mqtt.client_id', 'props'],
    ['mqtt.payload_format', '1'],
    ['mqtt.message_expiry', '3600'],
    ['mqtt.content_type', 'text/plain'],
    ['mqtt.response_topic', 'lab/ph/reply'],
    ['mqtt.correlation_data', 'cafe'],
    ['mqtt.user.site', 'hall-3'],
    ['mqtt.user.line', '1'],
    ['mqtt.user.line', '2'],
  ]);
  const old = await connect(t, url, { clientId: 'props-311', protocolVersion: 4 });
  await old.publishAsync('lab/ph', '7.2', { qos: 1 });
  assert.deepEqual(headersOf(node, 1).map(([name]) => name), ['mqtt.topic', 'mqtt.qos', 'mqtt.retain', 'mqtt.client_id']);
});

test('mqtt.v5.userProperties: a prefix of one\'s own, and only the allowed names stored', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { v5: { ...v5, userProperties: { prefix: 'u_', allow: ['site'] } } } });
  const { client } = await connect5(t, url, { clientId: 'allow' });
  await client.publishAsync('lab/ph', '7.1', { qos: 1, properties: { userProperties: { site: 'hall-3', secret: 'x' } } });
  assert.deepEqual(headersOf(node, 0).slice(4), [['u_site', 'hall-3']]);
});

/** The reason code MQTT.js reports for a refused QoS 1/2 publish (its error's code), or 'accepted'. */
async function outcome(client: MqttClient, topic: string, payload: Buffer | string, options: Parameters<MqttClient['publishAsync']>[2]): Promise<number | 'accepted'> {
  try {
    await client.publishAsync(topic, payload, options);
    return 'accepted';
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

test('MQTT 5.0 PUBACK/PUBREC reason codes: 0x90 topic, 0x99 payload format, 0x83 payload size, the connection kept, nothing refused stored', async (t) => {
  const { node, url } = await startTestNode(t, {
    mqtt: { v5, limits: { maxTopicLength: 24, maxPayload: 64 }, mapping: { unmatched: 'refuse', rules: [{ filter: 'lab/#', topic: 'mqtt' }] } },
  });
  const { client } = await connect5(t, url, { clientId: 'refused' });
  const utf8 = { payloadFormatIndicator: true };
  const results = await Promise.all([
    outcome(client, 'lab/ok/1', 'first', { qos: 1 }),
    outcome(client, 'lab/' + 'x'.repeat(30), 'long topic', { qos: 1 }),
    outcome(client, 'elsewhere/1', 'no rule', { qos: 1 }),
    outcome(client, 'lab/bytes', Buffer.from([0xff, 0xfe]), { qos: 1, properties: utf8 }),
    outcome(client, 'lab/bytes', Buffer.from([0xff, 0xfe]), { qos: 2, properties: utf8 }),
    outcome(client, 'lab/big', Buffer.alloc(80, 0x61), { qos: 1 }),
    outcome(client, 'lab/text', 'grüße', { qos: 1, properties: utf8 }),
    outcome(client, 'lab/ok/2', 'last', { qos: 2 }),
  ]);
  assert.deepEqual(results, ['accepted', 0x90, 0x90, 0x99, 0x99, 0x83, 'accepted', 'accepted']);
  assert.ok(client.connected, 'a v5 publisher is answered, not disconnected');
  // The QoS 2 one is a batch of its own (its idempotence key): the log's order may differ.
  assert.deepEqual(stored(node).map((r) => r.value).sort(), ['first', 'grüße', 'last']);
  assert.deepEqual(node.mqtt.stats.refused, { 'topic too long': 1, 'no mapping rule matches': 1, 'payload format invalid': 2, 'payload too large': 1 });

  // A 3.1.1 publisher has no reason code: the same refusal closes its connection, as before.
  const old = await connect(t, url, { clientId: 'refused-311', protocolVersion: 4 });
  const closed = new Promise<void>((resolve) => old.once('close', () => resolve()));
  old.publish('elsewhere/1', 'no rule', { qos: 1 });
  await closed;
});

test('MQTT 5.0 Session Expiry Interval: a longer one than mqtt.sessions.expiry is clamped to it and announced in CONNACK', async (t) => {
  const { url } = await startTestNode(t, { mqtt: { v5, sessions: { expiry: '1h' } } });
  const { connack: forever } = await connect5(t, url, { clientId: 'forever', clean: false, properties: { sessionExpiryInterval: 0xffffffff } });
  assert.equal(forever.properties?.sessionExpiryInterval, 3600);
  const { connack: short } = await connect5(t, url, { clientId: 'short', clean: false, properties: { sessionExpiryInterval: 60 } });
  assert.equal(short.properties?.sessionExpiryInterval, undefined, 'a shorter one stands, not announced');
});

test('the raw load generator with protocolVersion 5: every acknowledged message is stored, taken by the fast path', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { v5 } });
  const result = await runRawPublisher({ host: '127.0.0.1', port: node.mqtt.ports.tcp, connections: 2, payloadBytes: 20, count: 2000, window: 50, protocolVersion: 5 });
  assert.equal(result.acked, 2000);
  assert.equal(stored(node).length, 2000);
  assert.equal(node.mqtt.stats.publishesFastPath, 2000);
});

test('MQTT 5.0 bad topic aliases: one never set, or above mqtt.v5.topicAliasMaximum, gets DISCONNECT 0x94 and nothing is stored', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { v5 } });
  for (const [name, alias] of [['never-set', 5], ['too-high', 9]] as const) {
    const raw = await RawMqtt.open(node.mqtt.ports.tcp, undefined, 5);
    t.after(() => raw.destroy());
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `alias-${name}`, clean: true, keepalive: 60 });
    await raw.next('connack');
    raw.socket.write(mqttPacket.generate({ cmd: 'publish', topic: alias === 5 ? '' : 'a/b', payload: Buffer.from(name), qos: 1, messageId: 1, dup: false, retain: false, properties: { topicAlias: alias } }, { protocolVersion: 5 }));
    const disconnect = (await raw.next('disconnect')) as { reasonCode?: number };
    assert.equal(disconnect.reasonCode, 0x94, name);
    await raw.closed;
  }
  assert.deepEqual(stored(node), []);
});

/** A v5 QoS 1 PUBLISH on `bad/props` whose property bytes are `properties` as given (Property Length first). */
function publishWithProperties(messageId: number, properties: Buffer): Buffer {
  const topic = Buffer.from('bad/props');
  const body = Buffer.concat([Buffer.from([0, topic.length]), topic, Buffer.from([messageId >> 8, messageId & 0xff, properties.length]), properties, Buffer.from('x')]);
  return Buffer.concat([Buffer.from([0x32, body.length]), body]);
}

test('MQTT 5.0 bad input gets its DISCONNECT reason code: 0x95 over Maximum Packet Size (before its body), 0x81 malformed properties, 0x82 a property twice', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { v5, limits: { maxPayload: '1KiB' } } });
  const contentType = (text: string): Buffer => Buffer.concat([Buffer.from([0x03, 0, text.length]), Buffer.from(text)]);
  const cases: Array<[string, Buffer, number]> = [
    // Only the fixed header and a few bytes of a PUBLISH announcing 64 KiB: refused unread.
    ['too large', Buffer.from([0x32, 0x80, 0x80, 0x04, 0x00, 0x01, 0x61]), 0x95],
    ['unknown property', publishWithProperties(2, Buffer.from([0x7f, 0x00])), 0x81],
    ['property past its length', publishWithProperties(3, Buffer.from([0x03, 0x00, 0x09, 0x61])), 0x81],
    ['content type twice', publishWithProperties(4, Buffer.concat([contentType('a'), contentType('b')])), 0x82],
    ['payload format twice', publishWithProperties(5, Buffer.from([0x01, 0x00, 0x01, 0x01])), 0x82],
  ];
  for (const [name, bytes, reasonCode] of cases) {
    const raw = await RawMqtt.open(node.mqtt.ports.tcp, undefined, 5);
    t.after(() => raw.destroy());
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `bad-${name.replaceAll(' ', '-')}`, clean: true, keepalive: 60 });
    await raw.next('connack');
    // One good publish first: acknowledged, so it must be in the log whatever follows.
    raw.socket.write(mqttPacket.generate({ cmd: 'publish', topic: 'good/first', payload: Buffer.from(name), qos: 1, messageId: 1, dup: false, retain: false }, { protocolVersion: 5 }));
    await raw.next('puback', 1);
    raw.socket.write(bytes);
    // Without the checks, the bad publish is taken and acknowledged instead (or the connection just closed).
    await Promise.race([raw.closed, raw.next('puback')]);
    const disconnect = raw.received.find((p) => p.cmd === 'disconnect') as { reasonCode?: number } | undefined;
    assert.equal(disconnect?.reasonCode, reasonCode, name);
  }
  assert.deepEqual(stored(node).map((r) => r.key), cases.map(() => 'good/first'));

  // A 3.1.1 client has no DISCONNECT to receive: the oversized packet just closes its connection.
  const old = await RawMqtt.open(node.mqtt.ports.tcp);
  t.after(() => old.destroy());
  await old.connect('too-large-311');
  old.socket.write(Buffer.from([0x32, 0x80, 0x80, 0x04, 0x00, 0x01, 0x61]));
  await old.closed;
  assert.deepEqual(old.received.map((p) => p.cmd), []);
});

/** A v5 CONNECT with `flags` (clean start 0x02 by default) and properties as raw bytes, client id 'c'. */
function connect5Bytes(flags: number, properties: number[]): Buffer {
  const body = [0, 4, ...Buffer.from('MQTT'), 5, flags, 0, 60, properties.length, ...properties, 0, 1, 0x63];
  return Buffer.from([0x10, body.length, ...body]);
}

test('a malformed MQTT 5.0 CONNECT gets CONNACK 0x81, one breaking a rule 0x82, then the close; a 3.1.1 one is closed without CONNACK', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { v5 } });
  const withWill = (topic: string): Buffer => mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'w', clean: true, keepalive: 60, will: { topic, payload: Buffer.from('x'), qos: 0, retain: false } }, { protocolVersion: 5 });
  const cases: Array<[string, Buffer, number]> = [
    ['reserved flag set [MQTT-3.1.2-3]', connect5Bytes(0x03, []), 0x81],
    ['will QoS without a will [MQTT-3.1.2-11]', connect5Bytes(0x0a, []), 0x81],
    ['an unknown property', connect5Bytes(0x02, [0x7f, 0x00]), 0x81],
    ['Session Expiry Interval twice', connect5Bytes(0x02, [0x11, 0, 0, 0, 10, 0x11, 0, 0, 0, 20]), 0x82],
    ['a wildcard in the will topic [MQTT-3.3.2-2]', withWill('alarms/#'), 0x82],
  ];
  for (const [name, bytes, reasonCode] of cases) {
    const raw = await RawMqtt.open(node.mqtt.ports.tcp, undefined, 5);
    t.after(() => raw.destroy());
    raw.socket.write(bytes);
    await raw.closed;
    assert.deepEqual(raw.received.map((p) => [p.cmd, (p as IConnackPacket).reasonCode]), [['connack', reasonCode]], name);
  }
  const old = await RawMqtt.open(node.mqtt.ports.tcp);
  t.after(() => old.destroy());
  // 3.1.1 CONNECT, reserved flag set
  old.socket.write(Buffer.from([0x10, 13, 0, 4, ...Buffer.from('MQTT'), 4, 0x03, 0, 60, 0, 1, 0x63]));
  await old.closed;
  assert.deepEqual(old.received, []);
  assert.equal(node.mqtt.connectedClients, 0);
});

test('a mapping rule keyed by a User Property ({user.deviceId}): a v5 publish that has it is keyed by it, a 3.1.1 one goes to the next rule', async (t) => {
  const { node, url } = await startTestNode(t, {
    mqtt: {
      v5,
      mapping: {
        rules: [
          { filter: 'meters/#', topic: 'meters', key: '{user.deviceId}' },
          { filter: 'meters/#', topic: 'meters', key: '{mqtt.clientId}' },
        ],
      },
    },
  });
  const { client } = await connect5(t, url, { clientId: 'gateway-5' });
  await client.publishAsync('meters/power', '1.5', { qos: 1, properties: { userProperties: { deviceId: 'meter-17' } } });
  await client.publishAsync('meters/power', '1.6', { qos: 1 });
  const old = await connect(t, url, { clientId: 'gateway-311' });
  await old.publishAsync('meters/power', '1.7', { qos: 1 });
  const keys = node.log.read('meters', 0, 0, { maxRecords: 10 }).records.map((r) => `${r.key?.toString()}=${r.value?.toString()}`);
  assert.deepEqual(keys, ['meter-17=1.5', 'gateway-5=1.6', 'gateway-311=1.7']);
});

test('a will published after a connection drops carries its properties but not the Will Delay Interval (a CONNECT property, no PUBLISH one)', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { v5 } });
  const raw = await RawMqtt.open(node.mqtt.ports.tcp, undefined, 5);
  t.after(() => raw.destroy());
  raw.socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'will-watcher', clean: true, keepalive: 60 }, { protocolVersion: 5 }));
  await raw.next('connack');
  raw.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 1, nl: false, rap: false, rh: 0 }] }, { protocolVersion: 5 }));
  await raw.next('suback');
  const { client } = await connect5(t, url, {
    clientId: 'delayed-will',
    will: { topic: 'wills/delayed', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 1, contentType: 'text/plain', userProperties: { site: 'a' } } },
  });
  client.stream.destroy(); // no DISCONNECT: the will is due (at once, as the session ends with the connection)
  const will = (await raw.next('publish')) as { topic: string; payload: Buffer; properties?: Record<string, unknown> };
  assert.equal(will.topic, 'wills/delayed');
  assert.equal(will.properties?.willDelayInterval, undefined);
  assert.equal(will.properties?.contentType, 'text/plain');
  assert.deepEqual({ ...(will.properties?.userProperties as object) }, { site: 'a' });
});
