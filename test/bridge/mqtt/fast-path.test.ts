// The ingest fast path on real sockets: publishes that only go to the log are taken before aedes
// parses them, and nothing a client can see changes: PUBACK order, what is stored, keep-alive,
// delivery to subscribers (live and offline), and what aedes refuses.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { connect, startTestNode, type TestNode } from '../../helpers/mqtt-node.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { waitFor } from '../../helpers/wait-for.js';

const publish = (topic: string, id: number, options: { qos?: 0 | 1 | 2; retain?: boolean; payload?: Buffer } = {}): Packet => ({
  cmd: 'publish',
  topic,
  payload: options.payload ?? Buffer.from(`m${id}`),
  qos: options.qos ?? 1,
  messageId: id,
  dup: false,
  retain: options.retain ?? false,
});

const values = (node: TestNode['node'], topic = 'mqtt', partitions = 1): string[] =>
  Array.from({ length: partitions }, (_, p) => node.log.read(topic, p, 0, { maxRecords: 100_000 }).records.map((r) => r.value!.toString())).flat();

const pubackIds = (raw: RawMqtt): number[] => raw.received.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId);

async function openConnected(t: Parameters<typeof startTestNode>[0], node: TestNode['node'], clientId: string, keepalive = 60): Promise<RawMqtt> {
  const raw = await RawMqtt.open(node.mqtt.ports.tcp);
  t.after(() => raw.destroy());
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive });
  await raw.next('connack');
  return raw;
}

test('a stream cut at every size, packets split across reads, is stored whole and acknowledged in order by the fast path', async (t) => {
  const { node } = await startTestNode(t);
  const ids = Array.from({ length: 120 }, (_, i) => i + 1);
  // Payloads of many sizes, so that packet boundaries fall everywhere in the pieces.
  const stream = Buffer.concat(ids.map((id) => mqttPacket.generate(publish('plant/line-1/press', id, { payload: Buffer.from(`m${id}:${'x'.repeat(id * 7)}`) }))));
  const raw = await openConnected(t, node, 'cutter');
  let offset = 0;
  for (const size of [1, 2, 3, 5, 7, 11, 64, 300, 1000]) {
    for (let k = 0; k < 8 && offset < stream.length; k++) {
      raw.socket.write(stream.subarray(offset, offset + size));
      offset += size;
      await new Promise((resolve) => setTimeout(resolve, 2)); // separate reads
    }
  }
  raw.socket.write(stream.subarray(offset));
  await waitFor(() => pubackIds(raw).length === ids.length, 'every PUBACK');
  assert.deepEqual(pubackIds(raw), ids);
  assert.deepEqual(values(node), ids.map((id) => `m${id}:${'x'.repeat(id * 7)}`));
  assert.equal(node.mqtt.stats.publishesFastPath, ids.length, 'all taken by the fast path');
});

test('a large publish arriving in many reads is joined once and stored whole', async (t) => {
  const { node } = await startTestNode(t);
  const raw = await openConnected(t, node, 'big-sender');
  const big = Buffer.alloc(300_000, 'b');
  big.write('start', 0);
  big.write('end', big.length - 3);
  const stream = Buffer.concat([mqttPacket.generate(publish('plant/big', 1, { payload: big })), mqttPacket.generate(publish('plant/big', 2))]);
  for (let offset = 0; offset < stream.length; offset += 4096) {
    raw.socket.write(stream.subarray(offset, offset + 4096));
    if (offset % (16 * 4096) === 0) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await waitFor(() => pubackIds(raw).length === 2, 'both PUBACKs');
  assert.deepEqual(pubackIds(raw), [1, 2]);
  const stored = node.log.read('mqtt', 0, 0).records.map((r) => r.value!);
  assert.equal(stored.length, 2);
  assert.ok(stored[0]!.equals(big), 'the large payload unchanged');
  assert.equal(node.mqtt.stats.publishesFastPath, 2);
});

test('what the fast path leaves to aedes (retained, QoS 2, PINGREQ) mid-stream keeps every PUBACK in arrival order', async (t) => {
  const { node } = await startTestNode(t, { topics: [{ name: 'mqtt', partitions: 3 }] });
  const raw = await openConnected(t, node, 'mixed');
  const packets: Packet[] = [];
  const acked: number[] = [];
  for (let id = 1; id <= 200; id++) {
    if (id % 50 === 10) packets.push({ cmd: 'pingreq' });
    if (id % 40 === 7) packets.push(publish(`mixed/${id % 5}`, id, { retain: true }));
    else if (id % 40 === 23) packets.push(publish(`mixed/${id % 5}`, id, { qos: 2 }));
    else packets.push(publish(`mixed/${id % 5}`, id, { qos: id % 9 === 0 ? 0 : 1 }));
    if (id % 40 !== 23 && id % 9 !== 0) acked.push(id);
  }
  raw.send(...packets.slice(0, 100));
  raw.send(...packets.slice(100));
  await waitFor(() => pubackIds(raw).length === acked.length, 'every PUBACK');
  assert.deepEqual(pubackIds(raw), acked, 'PUBACKs in the order the PUBLISHes came [MQTT-4.6.0-2]');
  assert.equal(raw.received.filter((p) => p.cmd === 'pingresp').length, 4);
  assert.equal(raw.received.filter((p) => p.cmd === 'pubrec').length, 5);
  const stored = values(node, 'mqtt', 3).map((v) => Number(v.slice(1)));
  assert.deepEqual(stored.sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1), 'each stored once');
  assert.ok(node.mqtt.stats.publishesFastPath > 0 && node.mqtt.stats.publishesFastPath < 200, `${node.mqtt.stats.publishesFastPath} taken by the fast path`);
});

test('a subscriber gets what is published after its SUBACK, online or offline; without one the fast path takes over again', async (t) => {
  const { node, url } = await startTestNode(t);
  const raw = await openConnected(t, node, 'publisher');
  let id = 0;
  const publishOne = async (topic: string): Promise<void> => {
    raw.send(publish(topic, ++id));
    await raw.next('puback', id);
  };
  await publishOne('hall/1/temp');
  assert.equal(node.mqtt.stats.publishesFastPath, 1);

  const seen: string[] = [];
  const onMessage = (topic: string, payload: Buffer): number => seen.push(`${topic} ${payload.toString()}`);
  // A clean session: its subscription lives only while it is connected.
  const live = await connect(t, url, { clientId: 'live-watcher', clean: true }, onMessage);
  await live.subscribeAsync('hall/+/temp', { qos: 0 });
  await publishOne('hall/1/temp');
  await publishOne('hall/2/other'); // nobody listens there
  await waitFor(() => seen.length === 1, 'the live delivery');
  assert.deepEqual(seen, ['hall/1/temp m2']);
  await live.endAsync();

  const subscriber = await connect(t, url, { clientId: 'watcher', clean: false }, onMessage);
  await subscriber.subscribeAsync('hall/+/temp', { qos: 1 });
  // Offline, the persistent session's subscription still wants the messages.
  await subscriber.endAsync();
  await publishOne('hall/3/temp');
  const back = await connect(t, url, { clientId: 'watcher', clean: false }, onMessage);
  await waitFor(() => seen.length === 2, 'the queued delivery');
  assert.equal(seen[1], 'hall/3/temp m4');

  await back.unsubscribeAsync('hall/+/temp');
  const before = node.mqtt.stats.publishesFastPath;
  await publishOne('hall/1/temp');
  await waitFor(() => node.mqtt.stats.publishesFastPath === before + 1, 'the fast path again');
  assert.deepEqual(values(node), ['m1', 'm2', 'm3', 'm4', 'm5'], 'every publish stored, whichever path took it');
});

test('keep-alive: a client that only publishes through the fast path stays connected past 1.5x its keep-alive', async (t) => {
  const { node } = await startTestNode(t);
  // A publish every 250 ms for 3 s, with a keep-alive of 1 s (silence ends it after 1.5 s). The run
  // proves something only if this process kept that pace: a loaded machine can stall it (and the
  // node in it) for a second, which is silence to the node too. Such a run is done again (bounded);
  // the pace is the test's own, nothing of the node's is timed.
  for (let attempt = 1; ; attempt++) {
    const raw = await openConnected(t, node, `chatty-${attempt}`, 1);
    let closed = false;
    void raw.closed.then(() => (closed = true));
    const before = node.mqtt.stats.publishesFastPath;
    let last = Date.now();
    let longestGap = 0;
    for (let id = 1; id <= 12; id++) {
      raw.send(publish('chatty/rate', id, { qos: 0 }));
      await new Promise((resolve) => setTimeout(resolve, 250));
      longestGap = Math.max(longestGap, Date.now() - last);
      last = Date.now();
    }
    if (closed && longestGap >= 1000 && attempt < 5) {
      t.diagnostic(`attempt ${attempt}: this process stalled ${longestGap} ms between two publishes; again`);
      raw.destroy();
      continue;
    }
    assert.equal(closed, false, `not disconnected for silence (longest gap between publishes ${longestGap} ms)`);
    await waitFor(() => node.mqtt.stats.publishesFastPath === before + 12, 'all 12 publishes through the fast path');
    // And the timer still runs: silence ends the connection [MQTT-3.1.2-24].
    await raw.closed;
    return;
  }
});

test('an MQTT 3.1 client (MQIsdp) publishes through the fast path too', async (t) => {
  const { node, url } = await startTestNode(t);
  const client = await connect(t, url, { clientId: 'old-firmware', protocolId: 'MQIsdp', protocolVersion: 3 });
  await client.publishAsync('legacy/topic', 'three', { qos: 1 });
  assert.deepEqual(values(node), ['three']);
  assert.equal(node.mqtt.stats.publishesFastPath, 1);
});

test('mutated PUBLISH packets after CONNACK: no crash, nothing stored that was not acknowledged, a good client unaffected', async (t) => {
  const { node, url } = await startTestNode(t);
  const good = await connect(t, url, { clientId: 'steady' });
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const template = Buffer.concat([1, 2, 3].map((id) => mqttPacket.generate(publish('fuzz/a/b', id, { payload: Buffer.from('payload-bytes') }))));
  for (let round = 0; round < 300; round++) {
    const raw = await openConnected(t, node, `fuzz-${round}`);
    const bytes = Buffer.from(template);
    for (let k = 0, flips = 1 + rand(4); k < flips; k++) bytes[rand(bytes.length)] = rand(256);
    raw.socket.write(round % 3 === 0 ? Buffer.concat([bytes, randomBytes(rand(40))]) : bytes);
    await new Promise((resolve) => setTimeout(resolve, 5));
    raw.destroy();
  }
  await good.publishAsync('steady/ok', 'still here', { qos: 1 });
  assert.ok(values(node).includes('still here'));
  await waitFor(() => node.mqtt.connectedClients === 1, 'every fuzzing connection gone');
});

test('mqtt.fastPath: false leaves every packet to aedes; publishes are stored and acknowledged in order all the same', async (t) => {
  const { node } = await startTestNode(t, { mqtt: { fastPath: false }, topics: [{ name: 'mqtt', partitions: 3 }] });
  const raw = await openConnected(t, node, 'plain');
  const ids = Array.from({ length: 100 }, (_, i) => i + 1);
  raw.send(...ids.map((id) => publish(`plain/${id % 7}`, id)));
  await waitFor(() => pubackIds(raw).length === ids.length, 'every PUBACK');
  assert.deepEqual(pubackIds(raw), ids);
  assert.equal(values(node, 'mqtt', 3).length, ids.length);
  assert.equal(node.mqtt.stats.publishesFastPath, 0);
});

test('MQTT 5.0: the fast path takes PUBLISHes with properties and topic aliases too, in order; an alias set on either path names the topic on the other', async (t) => {
  const { node } = await startTestNode(t);
  const raw = await RawMqtt.open(node.mqtt.ports.tcp, undefined, 5);
  t.after(() => raw.destroy());
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'v5-fast', clean: true, keepalive: 60, properties: { topicAliasMaximum: 0 } });
  const connack = await raw.next('connack');
  assert.equal((connack as { reasonCode?: number }).reasonCode, 0);
  const v5 = (packets: Packet[]): Buffer => Buffer.concat(packets.map((p) => mqttPacket.generate(p, { protocolVersion: 5 })));
  raw.socket.write(
    v5([
      publish('plant/v5/a', 1),
      publish('plant/v5/a', 2, { qos: 0 }),
      { ...publish('plant/v5/a', 3), properties: { userProperties: { line: '7' } } } as Packet,
      { ...publish('plant/v5/b', 4), properties: { topicAlias: 1 } } as Packet,
      { ...publish('', 5), properties: { topicAlias: 1 } } as Packet,
      publish('plant/v5/a', 6),
    ]),
  );
  await waitFor(() => pubackIds(raw).length === 5, 'the QoS 1 PUBACKs');
  assert.deepEqual(pubackIds(raw), [1, 3, 4, 5, 6]);
  await waitFor(() => values(node).length === 6, 'all six stored');
  assert.equal(node.mqtt.stats.publishesFastPath, 6, 'all six taken by the fast path, properties and aliases too');

  // An alias the fast path set, used by a publish aedes handles (retained), and one aedes set
  // (with a QoS 2 publish), used by a publish the fast path takes.
  raw.socket.write(v5([{ ...publish('', 7, { retain: true }), properties: { topicAlias: 1 } } as Packet]));
  await waitFor(() => pubackIds(raw).includes(7), 'PUBACK 7');
  raw.socket.write(v5([{ ...publish('plant/v5/c', 8, { qos: 2 }), properties: { topicAlias: 2 } } as Packet]));
  await raw.next('pubrec', 8);
  raw.socket.write(mqttPacket.generate({ cmd: 'pubrel', messageId: 8 }, { protocolVersion: 5 }));
  await raw.next('pubcomp', 8);
  raw.socket.write(v5([{ ...publish('', 9), properties: { topicAlias: 2 } } as Packet]));
  await waitFor(() => pubackIds(raw).includes(9), 'PUBACK 9');
  assert.ok(raw.received.filter((p) => p.cmd === 'puback').every((p) => ((p as { reasonCode?: number }).reasonCode ?? 0) === 0));
  assert.equal(node.mqtt.stats.publishesFastPath, 7, 'the retained and the QoS 2 publish went to aedes, the last one did not');

  const records = node.log.read('mqtt', 0, 0).records;
  assert.deepEqual(records.map((r) => r.value!.toString()), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
  assert.deepEqual(
    records.map((r) => r.key!.toString()),
    ['plant/v5/a', 'plant/v5/a', 'plant/v5/a', 'plant/v5/b', 'plant/v5/b', 'plant/v5/a', 'plant/v5/b', 'plant/v5/c', 'plant/v5/c'],
  );
  const topicHeader = (i: number): string => records[i]!.headers.find(([name]) => name === 'mqtt.topic')![1]!.toString();
  assert.deepEqual([4, 6, 8].map(topicHeader), ['plant/v5/b', 'plant/v5/b', 'plant/v5/c'], 'the topic an alias names, as the mqtt.topic header');
  assert.deepEqual(records[2]!.headers.map(([name]) => name).slice(4), ['mqtt.user.line']);
  assert.deepEqual(records[3]!.headers.map(([name]) => name).slice(4), [], 'a Topic Alias is not stored');
});

test('MQTT 5.0: a publish the fast path takes is stored with the same property headers as one aedes handles', async (t) => {
  const { node, url } = await startTestNode(t);
  // A subscriber on one topic: publishes there are aedes's to deliver.
  const subscriber = await connect(t, url, { clientId: 'v5-listener', protocolVersion: 5 });
  await subscriber.subscribeAsync('plant/v5/watched', { qos: 1 });
  const raw = await RawMqtt.open(node.mqtt.ports.tcp, undefined, 5);
  t.after(() => raw.destroy());
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'v5-props', clean: true, keepalive: 60 });
  await raw.next('connack');
  const properties = {
    payloadFormatIndicator: true,
    messageExpiryInterval: 3600,
    contentType: 'application/json',
    responseTopic: 'plant/v5/replies',
    correlationData: Buffer.from([0, 1, 2, 0xff]),
    userProperties: { line: '7', shift: ['early', 'late'], '10': 'ten', 'é': 'ü' },
  };
  const packet = (topic: string, id: number): Buffer => mqttPacket.generate({ ...publish(topic, id, { payload: Buffer.from('{"t":21.5}') }), properties } as Packet, { protocolVersion: 5 });
  raw.socket.write(packet('plant/v5/free', 1));
  await waitFor(() => pubackIds(raw).includes(1), 'PUBACK 1');
  raw.socket.write(packet('plant/v5/watched', 2));
  await waitFor(() => pubackIds(raw).includes(2), 'PUBACK 2');
  assert.equal(node.mqtt.stats.publishesFastPath, 1, 'the first by the fast path, the second by aedes');
  const [fast, throughAedes] = node.log.read('mqtt', 0, 0).records;
  const propertyHeaders = (r: typeof fast): Array<[string, string]> => r!.headers.slice(4).map(([name, value]) => [name, value!.toString('hex')]);
  assert.deepEqual(propertyHeaders(fast), propertyHeaders(throughAedes));
  assert.deepEqual(
    propertyHeaders(fast).map(([name]) => name),
    ['mqtt.payload_format', 'mqtt.message_expiry', 'mqtt.content_type', 'mqtt.response_topic', 'mqtt.correlation_data', 'mqtt.user.10', 'mqtt.user.line', 'mqtt.user.shift', 'mqtt.user.shift', 'mqtt.user.é'],
  );
});
