// MQTT 3.1.1 rules a client's packets must keep and aedes alone lets through: ill-formed UTF-8 and
// U+0000 in strings, packet identifier 0, a password without a user name, a will topic that is a
// filter. Each closes the connection; nothing of it is acknowledged or stored.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startTestNode, type TestNode } from '../../helpers/mqtt-node.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const str = (bytes: Buffer | string): Buffer => {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  return Buffer.concat([u16(b.length), b]);
};
/** A packet from its first byte and body; Remaining Length under 128 bytes here. */
const packet = (first: number, ...body: Buffer[]): Buffer => {
  const b = Buffer.concat(body);
  assert.ok(b.length < 128);
  return Buffer.concat([Buffer.from([first, b.length]), b]);
};
const publish = (topic: Buffer, qos: 0 | 1 | 2, id: number): Buffer =>
  packet(0x30 | (qos << 1), str(topic), qos > 0 ? u16(id) : Buffer.alloc(0), Buffer.from('payload'));
/** CONNECT 3.1.1 with the given flags byte and the fields after the client id. */
const connectPacket = (flags: number, clientId: Buffer | string, ...rest: Buffer[]): Buffer =>
  packet(0x10, str('MQTT'), Buffer.from([4, flags]), u16(60), str(clientId), ...rest);

const port = (node: TestNode): number => node.node.mqtt.ports.tcp;
const stored = (node: TestNode): number => node.node.log.read('mqtt', 0, 0).records.length;

/** Sends `bytes` after a good CONNECT (or alone, for a CONNECT) and returns what came back before the close. */
async function sendAndWaitClose(node: TestNode, bytes: Buffer, afterConnect = true): Promise<string[]> {
  const raw = await RawMqtt.open(port(node));
  if (afterConnect) assert.equal((await raw.connect('probe')).returnCode, 0);
  raw.socket.write(bytes);
  // A bound, so that a connection left open fails the test instead of hanging it.
  let timer: NodeJS.Timeout | undefined;
  const open = await Promise.race([raw.closed.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 10_000)))]);
  clearTimeout(timer);
  raw.destroy();
  return [...raw.received.map((p) => p.cmd), ...(open ? ['still open'] : [])];
}

for (const fastPath of [true, false]) {
  test(`strings: ill-formed UTF-8 and U+0000 close the connection, never stored lossily (fast path ${fastPath ? 'on' : 'off'}) [MQTT-1.5.3-1/2]`, async (t) => {
    const node = await startTestNode(t, { mqtt: { fastPath } });
    const bad = [Buffer.from([0x61, 0x2f, 0xff, 0xfe]), Buffer.from([0x61, 0x2f, 0xc0, 0x80]), Buffer.from('a/\u0000b'), Buffer.from([0x61, 0x2f, 0xed, 0xa0, 0x80])];
    for (const topic of bad) {
      for (const qos of [0, 1, 2] as const) {
        assert.deepEqual(await sendAndWaitClose(node, publish(topic, qos, 7)), [], `${topic.toString('hex')} QoS ${qos}: no acknowledgement`);
      }
      // In a subscription filter and in the client id too.
      assert.deepEqual(await sendAndWaitClose(node, packet(0x82, u16(1), str(topic), Buffer.from([1]))), [], 'SUBSCRIBE');
      assert.deepEqual(await sendAndWaitClose(node, connectPacket(0x02, topic), false), [], 'CONNECT without CONNACK');
    }
    assert.equal(stored(node), 0);
    // A well-formed topic outside ASCII is fine.
    const good = await connect(t, node.url, { clientId: 'good' });
    await good.publishAsync('a/température/ü', 'ok', { qos: 1 });
    assert.equal(stored(node), 1);
  });
}

test('packet identifier 0 in PUBLISH QoS 1/2 and SUBSCRIBE closes the connection unacknowledged [MQTT-2.3.1-1]', async (t) => {
  const node = await startTestNode(t);
  assert.deepEqual(await sendAndWaitClose(node, publish(Buffer.from('a/b'), 1, 0)), []);
  assert.deepEqual(await sendAndWaitClose(node, publish(Buffer.from('a/b'), 2, 0)), []);
  assert.deepEqual(await sendAndWaitClose(node, packet(0x82, u16(0), str('a/#'), Buffer.from([1]))), []);
  assert.equal(stored(node), 0);
});

test('a password without a user name closes the connection without CONNACK [MQTT-3.1.2-22]', async (t) => {
  const node = await startTestNode(t);
  assert.deepEqual(await sendAndWaitClose(node, connectPacket(0x42, 'pw-only', str('secret')), false), []);
  assert.equal(node.node.mqtt.stats.connectionsRefused['malformed CONNECT'], 1);
  // With a user name it is an ordinary login (no users configured: let in).
  const raw = await RawMqtt.open(port(node));
  raw.socket.write(connectPacket(0xc2, 'both', str('user'), str('secret')));
  assert.equal(((await raw.next('connack')) as { returnCode: number }).returnCode, 0);
  raw.destroy();
});

test('a will topic with a wildcard, or empty, closes the connection without CONNACK; no will is stored [MQTT-4.7.1-1]', async (t) => {
  const node = await startTestNode(t);
  for (const topic of ['status/#', 'status/+/x', '']) {
    // Will flag (0x04), will QoS 1 (0x08), clean session (0x02).
    assert.deepEqual(await sendAndWaitClose(node, connectPacket(0x0e, 'will-probe', str(topic), str('gone')), false), [], `'${topic}'`);
  }
  assert.equal(stored(node), 0, 'no will was published into the log');
  const raw = await RawMqtt.open(port(node));
  raw.socket.write(connectPacket(0x0e, 'will-ok', str('status/will-ok'), str('gone')));
  assert.equal(((await raw.next('connack')) as { returnCode: number }).returnCode, 0);
  raw.destroy();
});

test('an UNSUBSCRIBE without a topic filter closes the connection unacknowledged [MQTT-3.10.3-2]', async (t) => {
  const node = await startTestNode(t);
  assert.deepEqual(await sendAndWaitClose(node, packet(0xa2, u16(1))), []);
});

test('before its CONNECT a connection may announce no more than mqtt.limits.maxConnectSize, and nothing but a CONNECT [MQTT-3.1.0-1]', async (t) => {
  // A CONNECT timeout longer than the test's wait, so that only the size can close the connection.
  const node = await startTestNode(t, { mqtt: { limits: { connectTimeout: '60s' } } });
  // A CONNECT announcing 1 MiB (within maxPayload), of which only a little is sent: refused at once,
  // not held until the CONNECT timeout with whatever it sent so far.
  assert.deepEqual(await sendAndWaitClose(node, Buffer.concat([Buffer.from([0x10, 0x80, 0x80, 0x40]), Buffer.alloc(1000)]), false), []);
  assert.deepEqual(await sendAndWaitClose(node, publish(Buffer.from('a/b'), 1, 1), false), [], 'a PUBLISH first');
  assert.equal(stored(node), 0);
});
