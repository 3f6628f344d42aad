// MQTT 5.0 Receive Maximum, inbound (issue 18): a client with more QoS 1/2 PUBLISHes unanswered
// than the server announced gets DISCONNECT 0x93 [MQTT-3.3.4-9], whether the fast path or aedes
// would have taken them; answers (PUBACK, PUBCOMP, a failing PUBREC) free their slot; a 3.1.1
// client has no Receive Maximum. Raw frames on a real node: a client library keeps the window.
import assert from 'node:assert/strict';
import { connect as connectTcp } from 'node:net';
import { test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { ReceiveMaximumExceededError, ReceiveWindow } from '../../../bridge/mqtt/receive-window.js';
import { startTestNode, type TestNode } from '../../helpers/mqtt-node.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { waitFor } from '../../helpers/wait-for.js';

const MAX = 5;

function values(node: TestNode['node']): string[] {
  return node.log.read('mqtt', 0, 0, { maxRecords: 100_000 }).records.map((r) => r.value!.toString());
}

function publish(id: number, qos: 1 | 2, properties?: Record<string, unknown>): Packet {
  return { cmd: 'publish', topic: `rm/${id}`, payload: Buffer.from(`m${id}`), qos, messageId: id, dup: false, retain: false, ...(properties ? { properties } : {}) } as Packet;
}

function bytes(packets: Packet[], protocolVersion: 4 | 5 = 5): Buffer {
  return Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion })));
}

async function open5(t: Parameters<typeof startTestNode>[0], node: TestNode['node'], clientId: string): Promise<RawMqtt> {
  const raw = await RawMqtt.open(node.mqtt.ports.tcp, undefined, 5);
  t.after(() => raw.destroy());
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 60 });
  const connack = (await raw.next('connack')) as { reasonCode?: number; properties?: { receiveMaximum?: number } };
  assert.equal(connack.properties?.receiveMaximum, MAX);
  return raw;
}

const acked = (raw: RawMqtt): number[] => raw.received.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId);

test('MQTT 5.0 Receive Maximum exceeded: DISCONNECT 0x93 on the fast path and through aedes; nothing acknowledged is lost', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { v5: { receiveMaximum: MAX } } });
  const cases: Array<[string, (id: number) => Packet]> = [
    ['fast path', (id) => publish(id, 1)],
    ['aedes', (id) => publish(id, 1, { userProperties: { line: '7' } })],
  ];
  for (const [name, make] of cases) {
    const raw = await open5(t, node, `rm-${name.replace(' ', '-')}`);
    // MAX + 1 in one write: none of them can have been answered before the last arrives.
    raw.socket.write(bytes(Array.from({ length: MAX + 1 }, (_, i) => make(100 + i))));
    // Without the check, all MAX + 1 are acknowledged instead.
    await waitFor(() => acked(raw).length === MAX + 1 || raw.received.some((p) => p.cmd === 'disconnect'), 'an answer');
    const disconnect = raw.received.find((p) => p.cmd === 'disconnect') as { reasonCode?: number } | undefined;
    assert.equal(disconnect?.reasonCode, 0x93, name);
    await raw.closed;
    assert.deepEqual(acked(raw), [], `${name}: nothing acknowledged`);
  }
  // QoS 2 flows count until PUBCOMP: MAX PUBRECs without a PUBREL, then one publish more.
  const raw = await open5(t, node, 'rm-qos2');
  raw.socket.write(bytes(Array.from({ length: MAX }, (_, i) => publish(200 + i, 2))));
  for (let i = 0; i < MAX; i++) await raw.next('pubrec', 200 + i);
  raw.socket.write(bytes([publish(300, 1)]));
  const answer = await Promise.race([raw.next('disconnect'), raw.next('puback', 300)]);
  assert.equal(answer.cmd, 'disconnect');
  assert.equal((answer as { reasonCode?: number }).reasonCode, 0x93);
  await raw.closed;
  assert.ok(
    Array.from({ length: MAX }, (_, i) => `m${200 + i}`).every((v) => values(node).includes(v)),
    'every PUBREC-ed message is in the log',
  );
});

test('MQTT 5.0 Receive Maximum: answered publishes free their slots, so a client within the window publishes on and on', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { v5: { receiveMaximum: MAX } } });
  const raw = await open5(t, node, 'rm-good');
  // QoS 2 flows: PUBREC, PUBREL, PUBCOMP; then the window is free again.
  raw.socket.write(bytes(Array.from({ length: MAX }, (_, i) => publish(1 + i, 2))));
  for (let i = 0; i < MAX; i++) await raw.next('pubrec', 1 + i);
  raw.socket.write(bytes(Array.from({ length: MAX }, (_, i) => ({ cmd: 'pubrel', messageId: 1 + i }) as Packet)));
  for (let i = 0; i < MAX; i++) await raw.next('pubcomp', 1 + i);
  // Rounds of a full window of QoS 1, on both paths, each sent once the last round is acknowledged.
  let id = 100;
  for (let round = 0; round < 4; round++) {
    const packets = Array.from({ length: MAX }, (_, i) => publish(id + i, 1, round % 2 === 0 ? undefined : { contentType: 'text/plain' }));
    raw.socket.write(bytes(packets));
    for (let i = 0; i < MAX; i++) await raw.next('puback', id + i);
    id += MAX;
  }
  // Refused QoS 2 publishes (PUBREC 0x99: marked UTF-8, and not) end their flows at PUBREC.
  const notUtf8 = (n: number): Packet => ({ ...publish(n, 2, { payloadFormatIndicator: true }), payload: Buffer.from([0xff, 0xfe]) }) as Packet;
  raw.socket.write(bytes(Array.from({ length: MAX }, (_, i) => notUtf8(900 + i))));
  for (let i = 0; i < MAX; i++) assert.equal(((await raw.next('pubrec', 900 + i)) as { reasonCode?: number }).reasonCode, 0x99);
  raw.socket.write(bytes(Array.from({ length: MAX }, (_, i) => publish(id + i, 1))));
  for (let i = 0; i < MAX; i++) await raw.next('puback', id + i);
  assert.equal(raw.received.filter((p) => p.cmd === 'disconnect').length, 0);
  assert.ok(!raw.socket.destroyed);
  await waitFor(() => values(node).length === MAX * 6, 'all stored');
});

test('MQTT 3.1.1 has no Receive Maximum: more QoS 1 publishes in flight than mqtt.v5.receiveMaximum are all acknowledged', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { v5: { receiveMaximum: MAX } } });
  const raw = await RawMqtt.open(node.mqtt.ports.tcp);
  t.after(() => raw.destroy());
  await raw.connect('rm-311');
  raw.socket.write(bytes(Array.from({ length: MAX * 3 }, (_, i) => publish(1 + i, 1)), 4));
  await waitFor(() => acked(raw).length === MAX * 3, 'all acknowledged');
  assert.equal(values(node).length, MAX * 3);
});

test('the window reads neither way once a connection is known not to be MQTT 5.0; before that, and for 5.0, it counts', () => {
  const QOS1_PUBLISH = 0x32;
  const PUBACK = Buffer.from([0x40, 0x02, 0x00, 0x01]);
  let version: number | null = null;
  const v311 = new ReceiveWindow(2, () => version);
  v311.received(QOS1_PUBLISH); // before the CONNECT is handled: counted, not enforced
  assert.equal(v311.unanswered, 1);
  version = 4;
  for (let i = 0; i < 10; i++) v311.received(QOS1_PUBLISH);
  v311.sent(PUBACK);
  assert.equal(v311.unanswered, 1, 'a 3.1.1 connection: nothing more counted, no answer scanned');

  const v5 = new ReceiveWindow(2, () => 5);
  v5.received(QOS1_PUBLISH);
  v5.received(QOS1_PUBLISH);
  v5.sent(PUBACK);
  assert.equal(v5.unanswered, 1);
  v5.received(QOS1_PUBLISH);
  assert.throws(() => v5.received(QOS1_PUBLISH), ReceiveMaximumExceededError);
});

test("Receive Maximum exceeded on the default config, as Paho's test_flow_control2 does it: the DISCONNECT 0x93 is read, not a reset, while the client still answers PUBRECs", async (t) => {
  const { node } = await startTestNode(t);
  // A client that reads nothing until it has sent Receive Maximum + 1 QoS 2 PUBLISHes, then answers
  // each PUBREC with a PUBREL, as Paho's does. Half-open: it goes on writing after the server's FIN.
  const socket = connectTcp({ port: node.mqtt.ports.tcp, host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => socket.destroy());
  const errors: Error[] = [];
  socket.on('error', (err) => errors.push(err));
  const received: Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  parser.on('packet', (p: Packet) => received.push(p));
  socket.on('data', (chunk) => parser.parse(chunk));
  const ended = new Promise<void>((resolve) => socket.once('end', resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'flow-control2', clean: true, keepalive: 60 }, { protocolVersion: 5 }));
  await waitFor(() => received.some((p) => p.cmd === 'connack'), 'CONNACK');
  const maximum = (received[0] as { properties?: { receiveMaximum?: number } }).properties?.receiveMaximum;
  assert.equal(maximum, 1000, 'the default Receive Maximum (aedes patch 003 keeps 1,000 awaiting PUBREL too)');
  socket.write(bytes(Array.from({ length: maximum + 1 }, (_, i) => publish(1 + i, 2))));
  await ended; // the server has closed its side
  const pubrecs = received.filter((p) => p.cmd === 'pubrec').map((p) => (p as { messageId: number }).messageId);
  // One write at a time, each after the last is done; a failed one is recorded.
  const write = (packet: Packet): Promise<void> =>
    new Promise((resolve) =>
      socket.write(bytes([packet]), (err) => {
        if (err) errors.push(err);
        resolve();
      }),
    );
  for (const id of pubrecs) if (errors.length === 0) await write({ cmd: 'pubrel', messageId: id } as Packet);
  // A few more packets: a reset, if one came back for the PUBRELs, fails one of these writes.
  for (let i = 0; i < 20 && errors.length === 0; i++) await write({ cmd: 'pingreq' } as Packet);
  socket.end();
  await closed;
  assert.deepEqual(errors.map((e) => (e as NodeJS.ErrnoException).code), [], 'no reset');
  const disconnect = received.find((p) => p.cmd === 'disconnect') as { reasonCode?: number } | undefined;
  assert.equal(disconnect?.reasonCode, 0x93);
  assert.equal(received.at(-1)?.cmd, 'disconnect', 'nothing after the DISCONNECT [MQTT-3.14.4-1]');
  const stored = values(node);
  for (const id of pubrecs) assert.ok(stored.includes(`m${id}`), `PUBREC-ed m${id} is in the log`);
});
