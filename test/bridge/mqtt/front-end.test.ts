// The MQTT front end on real sockets with real MQTT.js clients: what a publisher sends is in the
// log by the time it is acknowledged, on every transport, and ordinary broker behaviour works.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partitionForKey } from '../../../broker/murmur2.js';
import { connect, connectionRefusal, startTestNode } from '../../helpers/mqtt-node.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { waitFor } from '../../helpers/wait-for.js';
import { tempDir } from '../../helpers/temp-dir.js';

const header = (record: { headers: readonly (readonly [string, Buffer | null])[] }, name: string): string | undefined =>
  record.headers.find(([n]) => n === name)?.[1]?.toString();

test('QoS 1 over TCP: every PUBACKed message is in the log, keyed and partitioned as Kafka would', async (t) => {
  const { node, url } = await startTestNode(t, { topics: [{ name: 'mqtt', partitions: 3 }] });
  const client = await connect(t, url, { clientId: 'sensor-1' });
  const sent: string[] = [];
  await Promise.all(
    Array.from({ length: 200 }, (_, i) => {
      const topic = `factory/line-${i % 5}/temp`;
      sent.push(`${topic}=${i}`);
      return client.publishAsync(topic, `reading ${i}`, { qos: 1 });
    }),
  );
  const stored = [0, 1, 2].flatMap((p) => node.log.read('mqtt', p, 0, { maxRecords: 1000 }).records.map((r) => ({ ...r, partition: p })));
  assert.equal(stored.length, 200);
  for (const record of stored) {
    const topic = header(record, 'mqtt.topic')!;
    assert.equal(record.key?.toString(), topic, 'keyed by the MQTT topic');
    assert.equal(record.partition, partitionForKey(Buffer.from(topic), 3), 'partition = murmur2(key) mod 3');
    assert.equal(header(record, 'mqtt.qos'), '1');
    assert.equal(header(record, 'mqtt.retain'), 'false');
    assert.equal(header(record, 'mqtt.client_id'), 'sensor-1');
  }
  assert.deepEqual(stored.map((r) => `${header(r, 'mqtt.topic')}=${r.value!.toString().split(' ')[1]}`).sort(), sent.sort());
  // Per MQTT topic (so per key, so per partition) the log keeps publish order.
  const line0 = stored.filter((r) => header(r, 'mqtt.topic') === 'factory/line-0/temp').map((r) => Number(r.value!.toString().split(' ')[1]));
  assert.deepEqual(line0, [...line0].sort((a, b) => a - b));
});

test('QoS 0 and 1 over WebSocket land in the log; payload bytes are kept unchanged', async (t) => {
  const { node, wsUrl } = await startTestNode(t);
  const client = await connect(t, wsUrl, { clientId: 'ws-client' });
  const binary = Buffer.from([0, 255, 1, 254, 0x80, 0x7f]);
  await client.publishAsync('fleet/truck-9/gps', binary, { qos: 1 });
  await client.publishAsync('fleet/truck-9/gps', 'zero', { qos: 0 });
  await client.publishAsync('fleet/truck-9/gps', 'one', { qos: 1 }); // QoS 0 before it has been stored
  const records = node.log.read('mqtt', 0, 0).records;
  assert.deepEqual(records.map((r) => r.value), [binary, Buffer.from('zero'), Buffer.from('one')]);
  assert.equal(header(records[1]!, 'mqtt.qos'), '0');
});

test('PUBACKs go out in the order the PUBLISHes came in, across partitions [MQTT-4.6.0-2]', async (t) => {
  const { node } = await startTestNode(t, { topics: [{ name: 'mqtt', partitions: 4 }] });
  const raw = await RawMqtt.open(node.mqtt.ports.tcp);
  t.after(() => raw.destroy());
  assert.equal((await raw.connect('orderly')).returnCode, 0);
  const ids = Array.from({ length: 300 }, (_, i) => i + 1);
  raw.send(...ids.map((id) => ({ cmd: 'publish' as const, topic: `t/${id % 17}`, payload: Buffer.from(String(id)), qos: 1 as const, messageId: id, dup: false, retain: false })));
  await raw.next('puback', 300);
  const acks = raw.received.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId);
  assert.deepEqual([...acks, 300], ids);
});

test('QoS 2: a PUBLISH resent with DUP after a lost PUBREC is stored once; the packet id is reusable after PUBREL', async (t) => {
  const { node } = await startTestNode(t);
  const port = node.mqtt.ports.tcp;
  const publish = (dup: boolean, payload: string) =>
    ({ cmd: 'publish', topic: 'meter/1/energy', payload: Buffer.from(payload), qos: 2, messageId: 7, dup, retain: false }) as const;

  const first = await RawMqtt.open(port);
  await first.connect('meter-1', false);
  first.send(publish(false, 'kWh=10'));
  await first.next('pubrec', 7);
  first.destroy(); // as if the PUBREC never arrived: the client will resend
  await first.closed;

  const second = await RawMqtt.open(port);
  t.after(() => second.destroy());
  await second.connect('meter-1', false);
  second.send(publish(true, 'kWh=10'));
  await second.next('pubrec', 7);
  second.send({ cmd: 'pubrel', messageId: 7 });
  await second.next('pubcomp', 7);
  // The handshake is over: packet id 7 now carries a new message [MQTT-4.3.3-2].
  second.send(publish(false, 'kWh=11'));
  await second.next('pubrec', 7);
  second.send({ cmd: 'pubrel', messageId: 7 });
  await second.next('pubcomp', 7);

  assert.deepEqual(node.log.read('mqtt', 0, 0).records.map((r) => r.value!.toString()), ['kWh=10', 'kWh=11']);
  assert.equal(node.mqtt.stats.duplicatesSkipped, 1);
});

test('subscriptions, retained messages and last wills work beside the log', async (t) => {
  const { node, url } = await startTestNode(t);
  const watcher = await connect(t, url, { clientId: 'dashboard' });
  await watcher.subscribeAsync('status/#', { qos: 1 });
  const seen: string[] = [];
  watcher.on('message', (topic, payload) => seen.push(`${topic}=${payload.toString()}`));

  const device = await connect(t, url, { clientId: 'pump-3', will: { topic: 'status/pump-3', payload: Buffer.from('offline'), qos: 1, retain: true } });
  await device.publishAsync('status/pump-3', 'online', { qos: 1, retain: true });
  device.stream.destroy(); // no DISCONNECT: the will goes out
  await waitFor(() => seen.includes('status/pump-3=offline'));

  // A late subscriber gets the retained will.
  const late = await connect(t, url, { clientId: 'late' });
  const retained = new Promise<string>((resolve) => late.once('message', (_topic, payload) => resolve(payload.toString())));
  await late.subscribeAsync('status/pump-3', { qos: 1 });
  assert.equal(await retained, 'offline');
  // The will is a publish of the client's too: it is in the log.
  const values = node.log.read('mqtt', 0, 0).records.map((r) => `${header(r, 'mqtt.client_id')}:${r.value!.toString()}`);
  assert.deepEqual(values, ['pump-3:online', 'pump-3:offline']);
});

test('a persistent session survives a restart: subscriptions and queued QoS 1 messages are kept', async (t) => {
  const dataDir = tempDir(t);
  let running = await startTestNode(t, {}, dataDir);
  const subscriber = await connect(t, running.url, { clientId: 'historian', clean: false });
  await subscriber.subscribeAsync('alarms/#', { qos: 1 });
  await subscriber.endAsync();
  const publisher = await connect(t, running.url, { clientId: 'plc' });
  await publisher.publishAsync('alarms/boiler', 'overheat', { qos: 1 });
  await publisher.endAsync();
  await running.close();

  running = await startTestNode(t, {}, dataDir);
  const messages: string[] = [];
  await connect(t, running.url, { clientId: 'historian', clean: false }, (topic, payload) => messages.push(`${topic}=${payload.toString()}`));
  await waitFor(() => messages.length === 1);
  assert.deepEqual(messages, ['alarms/boiler=overheat'], 'the message queued while it was away');
  const later = await connect(t, running.url, { clientId: 'plc' });
  await later.publishAsync('alarms/mixer', 'jam', { qos: 1 });
  await waitFor(() => messages.length === 2);
  assert.equal(messages[1], 'alarms/mixer=jam', 'the subscription itself survived the restart');
});

test('a zero-length client id is accepted with clean session only [MQTT-3.1.3-7/8]', async (t) => {
  const { node, url } = await startTestNode(t);
  assert.equal(await connectionRefusal(url, { clientId: '', clean: true }), 'connected');
  const raw = await RawMqtt.open(node.mqtt.ports.tcp);
  t.after(() => raw.destroy());
  // By hand: client libraries refuse to encode this CONNECT. Clean session flag 0, client id ''.
  raw.socket.write(Buffer.from([0x10, 12, 0, 4, ...Buffer.from('MQTT'), 4, 0x00, 0, 60, 0, 0]));
  assert.equal(((await raw.next('connack')) as { returnCode: number }).returnCode, 2, 'CONNACK 0x02 identifier rejected');
});

test('mapping rules pick topic and key; a topic a rule names is created; unmatched publishes follow the policy', async (t) => {
  const { node, url } = await startTestNode(t, {
    topics: [{ name: 'mqtt', partitions: 1 }],
    mqtt: {
      mapping: {
        rules: [{ filter: 'factory/+site/+line/+device/#', topic: 'telemetry.{site}', key: '{device}' }],
        unmatched: 'refuse',
        newTopicPartitions: 3,
      },
    },
  });
  const client = await connect(t, url, { clientId: 'gw' });
  await client.publishAsync('factory/berlin/l2/press-7/temp', '71.3', { qos: 1 });
  await client.publishAsync('factory/berlin/l2/press-7/rpm', '1200', { qos: 1 });
  const partition = partitionForKey(Buffer.from('press-7'), 3);
  assert.equal(node.log.partitionCount('telemetry.berlin'), 3);
  const records = node.log.read('telemetry.berlin', partition, 0).records;
  assert.deepEqual(records.map((r) => [r.key!.toString(), r.value!.toString()]), [['press-7', '71.3'], ['press-7', '1200']]);

  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish('elsewhere/x', 'no rule', { qos: 1 });
  await closed;
  assert.equal(node.mqtt.stats.refused['no mapping rule matches'], 1);
});
