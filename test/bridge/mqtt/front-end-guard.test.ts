// The front end against clients it must refuse: bad credentials, publishes outside their ACL,
// oversized packets, too many connections, and streams of random and mutated packets. Each is
// disconnected and counted; a well-behaved client beside them never notices.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { hashPassword } from '../../../bridge/mqtt/passwords.js';
import { connect, connectionRefusal, startTestNode } from '../../helpers/mqtt-node.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { waitFor } from '../../helpers/wait-for.js';

const values = (node: Awaited<ReturnType<typeof startTestNode>>['node']): string[] =>
  node.log.read('mqtt', 0, 0, { maxRecords: 100_000 }).records.map((r) => r.value!.toString());

test('users, anonymous access and ACLs with %u / %c', async (t) => {
  const { node, url } = await startTestNode(t, {
    mqtt: {
      auth: {
        users: [
          { username: 'sensor', password: await hashPassword('s3cret') },
          { username: 'viewer', password: await hashPassword('look') },
        ],
        acl: [
          { user: 'sensor', publish: ['devices/%c/#'], subscribe: [] },
          { user: 'viewer', publish: [], subscribe: ['devices/#'] },
        ],
      },
    },
  });
  assert.equal(await connectionRefusal(url, { clientId: 'anon' }), 'connack 5', 'anonymous is off once a user exists');
  assert.equal(await connectionRefusal(url, { clientId: 'x', username: 'sensor', password: 'wrong' }), 'connack 4');
  assert.equal(await connectionRefusal(url, { clientId: 'x', username: 'nobody', password: 's3cret' }), 'connack 4');

  const viewer = await connect(t, url, { clientId: 'screen', username: 'viewer', password: 'look' });
  assert.deepEqual((await viewer.subscribeAsync('devices/#', { qos: 1 })).map((g) => g.qos), [1]);
  // SUBACK 0x80 for a filter outside the ACL; MQTT.js reports it as an error. The client stays on.
  await assert.rejects(viewer.subscribeAsync('secrets/#', { qos: 1 }), /Subscribe error/);
  assert.equal(viewer.connected, true);

  const sensor = await connect(t, url, { clientId: 'pump-1', username: 'sensor', password: 's3cret' });
  await sensor.publishAsync('devices/pump-1/flow', 'ok', { qos: 1 });
  // Outside its own client id: MQTT 3.1.1 has no negative PUBACK, so the client is disconnected.
  const closed = new Promise<void>((resolve) => sensor.once('close', () => resolve()));
  sensor.publish('devices/pump-2/flow', 'spoofed', { qos: 1 });
  await closed;
  assert.deepEqual(values(node), ['ok']);
  assert.equal(node.mqtt.stats.refused['not authorized'], 1);
  // A client id with a wildcard does not widen its own ACL.
  const sneaky = await connect(t, url, { clientId: '#', username: 'sensor', password: 's3cret' });
  const sneakyClosed = new Promise<void>((resolve) => sneaky.once('close', () => resolve()));
  sneaky.publish('devices/pump-3/flow', 'spoofed', { qos: 1 });
  await sneakyClosed;
  assert.deepEqual(values(node), ['ok']);
});

test('an oversized payload disconnects its sender before the body is read; others carry on', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { limits: { maxPayload: '1KiB' } } });
  const good = await connect(t, url, { clientId: 'good' });
  const big = await connect(t, url, { clientId: 'big' });
  const closed = new Promise<void>((resolve) => big.once('close', () => resolve()));
  big.publish('a/b', Buffer.alloc(64 * 1024), { qos: 1 });
  await closed;
  await good.publishAsync('a/b', Buffer.alloc(1024), { qos: 1 });
  assert.equal(values(node).length, 1, 'only the message within the limit is stored');

  // Just over the limit yet within the frame guard's slack (a short topic): refused by the hook.
  const edge = await connect(t, url, { clientId: 'edge' });
  const edgeClosed = new Promise<void>((resolve) => edge.once('close', () => resolve()));
  edge.publish('a', Buffer.alloc(1025), { qos: 1 });
  await edgeClosed;
  assert.equal(node.mqtt.stats.refused['payload too large'], 1);
  assert.equal(values(node).length, 1);
});

test('connections beyond the limit are refused at once', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { limits: { maxConnections: 3 } } });
  await Promise.all([1, 2, 3].map((i) => connect(t, url, { clientId: `c${i}` })));
  assert.notEqual(await connectionRefusal(url, { clientId: 'c4' }), 'connected');
  assert.equal(node.mqtt.stats.connectionsRefused['too many connections'], 1);
});

test('thousands of random and mutated packets: no crash, no leaked connection, a good client unaffected', async (t) => {
  const { node, url } = await startTestNode(t);
  const good = await connect(t, url, { clientId: 'steady' });
  const port = node.mqtt.ports.tcp;
  const valid: Packet[] = [
    { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'fuzz', clean: true, keepalive: 30 },
    { cmd: 'publish', topic: 'fuzz/a', payload: Buffer.from('hello'), qos: 1, messageId: 9, dup: false, retain: false },
    { cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'fuzz/#', qos: 1 }] },
    { cmd: 'pubrel', messageId: 9 },
    { cmd: 'pingreq' },
  ];
  const encoded = valid.map((p) => mqttPacket.generate(p));
  let seed = 1;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const mutate = (buf: Buffer): Buffer => {
    const copy = Buffer.from(buf);
    for (let k = 0, flips = 1 + rand(4); k < flips; k++) copy[rand(copy.length)] = rand(256);
    return rand(5) === 0 ? copy.subarray(0, rand(copy.length)) : copy;
  };
  const attempts = 3000;
  for (let batch = 0; batch < attempts / 50; batch++) {
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const kind = (batch * 50 + i) % 3;
        const bytes =
          kind === 0
            ? randomBytes(1 + rand(200))
            : kind === 1
              ? Buffer.concat([encoded[0]!, mutate(encoded[1 + rand(encoded.length - 1)]!)])
              : mutate(Buffer.concat(encoded));
        const socket = tcpConnect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        await new Promise<void>((resolve) => socket.once('connect', resolve));
        socket.end(bytes);
        await new Promise<void>((resolve) => {
          socket.once('close', () => resolve());
          setTimeout(() => socket.destroy(), 200); // a half-valid session may stay open: leave it
        });
      }),
    );
  }
  await good.publishAsync('steady/ok', 'still here', { qos: 1 });
  assert.ok(values(node).includes('still here'));
  // Every fuzzing connection is gone: nothing is left registered or admitted.
  await waitFor(() => node.mqtt.connectedClients === 1);
  assert.equal(node.mqtt.connectedClients, 1);
  assert.ok(node.mqtt.stats.clientErrors > 0, 'malformed input was seen and counted');
});

test('a malformed Remaining Length and a forbidden wildcard in PUBLISH disconnect the client', async (t) => {
  const { node } = await startTestNode(t);
  const raw = await RawMqtt.open(node.mqtt.ports.tcp);
  await raw.connect('bad-length');
  raw.socket.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
  await raw.closed;
  const wildcard = await RawMqtt.open(node.mqtt.ports.tcp);
  await wildcard.connect('bad-topic');
  wildcard.send({ cmd: 'publish', topic: 'a/+/b', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false });
  await wildcard.closed;
  assert.deepEqual(values(node), []);
});

test('a connection storm is paced: beyond connectionsPerSecond, sockets are closed at once and counted', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { limits: { connectionsPerSecond: 1 } } });
  const results = await Promise.all(
    Array.from({ length: 10 }, async (_, i) => {
      const raw = await RawMqtt.open(node.mqtt.ports.tcp);
      t.after(() => raw.destroy());
      raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `storm-${i}`, clean: true, keepalive: 60 });
      return Promise.race([raw.next('connack').then(() => 'connected'), raw.closed.then(() => 'closed')]);
    }),
  );
  const refused = results.filter((r) => r === 'closed').length;
  assert.ok(refused >= 6, `${refused} of 10 refused`);
  assert.equal(node.mqtt.stats.connectionsRefused['connection rate exceeded'], refused);
});

test('a topic with more levels than allowed disconnects its publisher; nothing is stored', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { limits: { maxTopicLevels: 4 } } });
  const client = await connect(t, url, { clientId: 'deep' });
  await client.publishAsync('a/b/c/d', 'ok', { qos: 1 });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish('a/b/c/d/e', 'too deep', { qos: 1 });
  await closed;
  assert.deepEqual(values(node), ['ok']);
});

for (const fastPath of [true, false]) {
  test(`fastPath ${fastPath}: a refused publish and a failed append close their connections and are reported once each, as refusals, not as client errors too`, async (t) => {
    const { node } = await startTestNode(t, { mqtt: { fastPath, limits: { maxTopicLength: 20 } } });
    const problems = (): string[] => node.errors.list().filter((e) => e.component === 'mqtt').map((e) => `${e.summary} x${e.count}`);
    const publish = (topic: string, messageId: number): Packet => ({ cmd: 'publish', topic, payload: Buffer.from(`m${messageId}`), qos: 1, messageId, dup: false, retain: false });

    const refused = await RawMqtt.open(node.mqtt.ports.tcp);
    t.after(() => refused.destroy());
    await refused.connect('long-topics');
    refused.send(publish('a/very/long/topic/name/indeed', 1));
    await refused.closed;

    // The log closes under a connected publisher: TRIB_LOG_CLOSED does not pass, so no retry.
    const late = await RawMqtt.open(node.mqtt.ports.tcp);
    t.after(() => late.destroy());
    await late.connect('late');
    late.send(publish('a/b', 1));
    await late.next('puback', 1);
    await node.log.close();
    late.send(publish('a/b', 2));
    await late.closed;
    assert.equal(late.received.some((p) => p.cmd === 'puback'), false, 'no PUBACK for a message not stored');

    // aedes saw both connections end with an error (a client error each), and nothing else.
    await waitFor(() => node.mqtt.stats.clientErrors === 2, 'both ends seen');
    assert.equal(node.mqtt.stats.publishesFastPath, fastPath ? 2 : 0, 'the path under test took the publishes');
    assert.equal(node.mqtt.stats.refused['topic too long'], 1);
    assert.equal(node.mqtt.stats.refused['log append failed'], 1);
    assert.equal(node.mqtt.stats.appendRetries, 0);
    assert.deepEqual(problems().sort(), ['publish refused: log append failed x1', 'publish refused: topic too long x1']);
  });
}
