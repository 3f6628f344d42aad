// cluster.followers: forward (docs/replication.md, "Followers that take publishes"): a follower
// takes MQTT publishers and hands their publishes to the leader, acknowledging each once the
// leader's commit covers it. Three real nodes, MQTT.js clients; the leader SIGKILLed under a
// follower's publisher loses nothing that was PUBACKed. With the default (refuse) a follower still
// refuses CONNECT.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { IConnackPacket, IPubrecPacket, ISubackPacket, Packet } from 'mqtt-packet';
import { decodeBatch } from '../../broker/log/record-batch.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { startReplicas, storedEntries, storedValues, waitForLeader, type Replica } from '../helpers/replicas.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

const FORWARD = { clusterYaml: () => '  followers: forward' };

const urlOf = (replica: Replica): string => `mqtt://127.0.0.1:${replica.mqttPort}`;

/** Connects and resolves with the CONNACK (accepted or refused) and the client. */
function connack(replica: Replica, options: IClientOptions): Promise<{ packet: IConnackPacket; client: MqttClient }> {
  const client = mqtt.connect(urlOf(replica), { reconnectPeriod: 0, connectTimeout: 30_000, ...options });
  return new Promise((resolve, reject) => {
    client.on('packetreceive', (packet) => {
      if (packet.cmd === 'connack') resolve({ packet: packet as IConnackPacket, client });
    });
    client.on('error', () => undefined);
    client.once('close', () => setTimeout(() => reject(new Error(`no CONNACK from ${urlOf(replica)}`)), 100));
  });
}

/** Each stored record of `topic` on a replica: partition, offset, value, and whether its mqtt.retain header says true. */
function storedRecords(replica: Replica, topic = 'mqtt'): { partition: number; offset: number; value: string; retain: boolean }[] {
  return storedEntries(replica)
    .filter((e) => e.topic === topic)
    .flatMap((e) => {
      const batch = decodeBatch(e.data);
      return batch.records.map((r, i) => ({
        partition: e.partition,
        offset: batch.baseOffset + i,
        value: r.value?.toString() ?? '',
        retain: r.headers.find(([name]) => name === 'mqtt.retain')?.[1]?.toString() === 'true',
      }));
    });
}

test('with cluster.followers: forward a follower takes a QoS 1 publisher: PUBACKed once committed, stored once on every replica at the same offsets, readable there; no subscriptions, no QoS 2, no persistent session', async (t) => {
  const replicas = await startReplicas(t, 3, FORWARD);
  const leader = await waitForLeader(replicas);
  const follower = replicas.find((r) => r !== leader)!;

  const { packet, client } = await connack(follower, { clientId: 'sensor-1', clean: true });
  t.after(() => client.end(true));
  assert.equal(packet.returnCode, 0, 'a forwarding follower accepts a clean-session client');
  for (let i = 0; i < 20; i++) await client.publishAsync(`plant/line/${i % 3}`, `forwarded ${i}`, { qos: 1 });
  await client.publishAsync('plant/line/state', 'retained via a follower', { qos: 1, retain: true });

  // PUBACKed means committed: the records are on a quorum; soon on every replica, at the same offsets.
  const expected = [...Array.from({ length: 20 }, (_, i) => `forwarded ${i}`), 'retained via a follower'].sort();
  const holdsAll = (r: Replica): boolean => storedValues(r).length >= expected.length;
  assert.ok(await pollUntil(async () => replicas.every(holdsAll), PATIENCE_MS, 50), 'every replica holds the forwarded records');
  const reference = storedRecords(leader);
  assert.deepEqual(reference.map((r) => r.value).sort(), expected, 'each forwarded publish stored once');
  for (const r of replicas) assert.deepEqual(storedRecords(r), reference, `${r.id} holds the same records at the same offsets`);
  assert.equal(reference.find((r) => r.value === 'retained via a follower')?.retain, true, 'stored as a record that says retain');

  // Readable through the replay API of the follower the device published to.
  const partitions = [...new Set(reference.map((r) => r.partition))];
  // (Up to its high watermark: the leader's commit position as of the follower's last fetch.)
  let replayed = '';
  const serves = (value: string): boolean => replayed.includes(JSON.stringify(value).slice(1, -1)) || replayed.includes(Buffer.from(value).toString('base64'));
  const replayedAll = async (): Promise<boolean> => {
    replayed = '';
    for (const partition of partitions) replayed += await (await fetch(`http://127.0.0.1:${follower.httpPort}/api/topics/mqtt/records?partition=${partition}`)).text();
    return expected.every(serves);
  };
  assert.ok(await pollUntil(replayedAll, PATIENCE_MS, 100), `replay serves every forwarded record: ${replayed}`);

  // A subscription on a follower: SUBACK 0x80 (failure); the connection stays.
  const suback = new Promise<number[]>((resolve) => {
    const onPacket = (p: Packet): void => {
      if (p.cmd !== 'suback') return;
      client.off('packetreceive', onPacket);
      resolve((p as ISubackPacket).granted as number[]);
    };
    client.on('packetreceive', onPacket);
  });
  await client.subscribeAsync('plant/#', { qos: 1 }).catch(() => undefined);
  assert.deepEqual(await suback, [0x80], 'SUBACK 0x80');
  await client.publishAsync('plant/line/0', 'after the refused subscription', { qos: 1 });

  // QoS 2 is not forwarded in this slice: the publish is refused (the 3.1.1 connection closes), nothing stored.
  const { client: qos2 } = await connack(follower, { clientId: 'sensor-qos2', clean: true });
  const closed = new Promise<void>((resolve) => qos2.once('close', () => resolve()));
  qos2.publish('plant/line/0', 'qos 2 via a follower', { qos: 2 }, () => undefined);
  await closed;
  qos2.end(true);
  // MQTT 5.0: PUBREC 0x83 (implementation specific error), and the connection stays.
  const { client: v5 } = await connack(follower, { clientId: 'sensor-v5', clean: true, protocolVersion: 5 });
  t.after(() => v5.end(true));
  const pubrec = new Promise<number | undefined>((resolve) => {
    v5.on('packetreceive', (p: Packet) => {
      if (p.cmd === 'pubrec') resolve((p as IPubrecPacket).reasonCode);
    });
  });
  await v5.publishAsync('plant/line/0', 'qos 2 via a follower, v5', { qos: 2 }).catch(() => undefined);
  assert.equal(await pubrec, 0x83);
  await v5.publishAsync('plant/line/0', 'qos 1 after the refused qos 2, v5', { qos: 1 });
  assert.ok(await pollUntil(() => storedValues(leader).includes('qos 1 after the refused qos 2, v5'), PATIENCE_MS, 50));
  assert.ok(!storedValues(leader).includes('qos 2 via a follower'));
  assert.ok(!storedValues(leader).includes('qos 2 via a follower, v5'));

  // A persistent session is the leader's: refused (return code 3) as before.
  const { packet: persistent, client: p } = await connack(follower, { clientId: 'sensor-persistent', clean: false });
  p.end(true);
  assert.equal(persistent.returnCode, 3);
});

test('the leader SIGKILLed while followers forward: nothing PUBACKed is lost, duplicates only at QoS 1; publishers on the followers go on with the new leader', async (t) => {
  const replicas = await startReplicas(t, 3, FORWARD);
  const leader = await waitForLeader(replicas);
  const followers = replicas.filter((r) => r !== leader);

  // One publisher per follower, QoS 1, each message numbered; a closed connection reconnects to the
  // same follower (also after a CONNACK 3 while no leader is known) and sends again what was not
  // acknowledged (MQTT.js keeps it in its outgoing store).
  const acked = new Set<string>();
  let stop = false;
  const publishers = followers.map(async (follower) => {
    const client = mqtt.connect(urlOf(follower), { clientId: `sensor-${follower.id}`, clean: true, reconnectPeriod: 100, reconnectOnConnackError: true, connectTimeout: 5000, queueQoSZero: false });
    client.on('error', () => undefined);
    t.after(() => client.end(true));
    for (let i = 0; !stop; i++) {
      const id = `${follower.id}/${i}`;
      await new Promise<void>((resolve) => {
        client.publish('plant/line/power', id, { qos: 1 }, (err) => {
          if (err === undefined || err === null) acked.add(id);
          resolve();
        });
      });
    }
  });

  // Some acknowledged before the fault, then the leader dies mid-stream.
  assert.ok(await pollUntil(async () => acked.size >= 50, PATIENCE_MS, 20), 'publishes acknowledged through the followers');
  await leader.kill();
  const survivors = followers;
  const newLeader = await waitForLeader(survivors);
  const before = acked.size;
  assert.ok(await pollUntil(async () => acked.size >= before + 50, PATIENCE_MS, 20), `publishers on the followers go on after the failover (${acked.size} acknowledged, ${before} before; new leader ${newLeader.id})\n${survivors.map((r) => r.output().split('\n').filter((l) => /forward|refused|leader/i.test(l)).slice(-15).join('\n')).join('\n----\n')}`);
  stop = true;
  await Promise.race([Promise.all(publishers), new Promise((r) => setTimeout(r, 5000))]);

  const acknowledged = [...acked];
  const settled = async (): Promise<boolean> => {
    const held = new Set(storedValues(newLeader));
    return acknowledged.every((id) => held.has(id));
  };
  assert.ok(await pollUntil(settled, PATIENCE_MS, 50), 'every PUBACKed message is on the new leader');
  // Same records on both survivors below what both hold.
  const a = storedRecords(survivors[0]!);
  const b = storedRecords(survivors[1]!);
  const common = Math.min(a.length, b.length);
  assert.deepEqual(a.slice(0, common), b.slice(0, common), 'the survivors hold the same records at the same offsets');
  const values = storedValues(newLeader);
  const duplicates = values.length - new Set(values).size;
  t.diagnostic(`acknowledged ${acknowledged.length}, stored ${values.length}, duplicates (QoS 1 resends) ${duplicates}`);
});

test('with the default (cluster.followers: refuse) a follower still refuses CONNECT: return code 3', async (t) => {
  const replicas = await startReplicas(t, 3);
  const leader = await waitForLeader(replicas);
  const follower = replicas.find((r) => r !== leader)!;
  const { packet, client } = await connack(follower, { clientId: 'refused', clean: true });
  client.end(true);
  assert.equal(packet.returnCode, 3);
});

/** How many QoS 2 keys a replica's log holds (the idempotence_keys table of its log.db). */
function heldKeys(replica: Replica): number {
  const db = new Database(join(replica.dir, 'log.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM idempotence_keys').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test('a clean-session client of a forwarding follower releases no QoS 2 keys there: the follower\'s key table stays the leader\'s copy', async (t) => {
  const replicas = await startReplicas(t, 3, FORWARD);
  const leader = await waitForLeader(replicas);
  const follower = replicas.find((r) => r !== leader)!;

  // A QoS 2 publish to the leader on a persistent session, PUBREC received, no PUBREL: its key is held, on every replica.
  const raw = await RawMqtt.open(leader.mqttPort);
  t.after(() => raw.destroy());
  assert.equal((await raw.connect('keyed', false)).returnCode, 0);
  raw.send({ cmd: 'publish', topic: 'plant/line/0', payload: Buffer.from('held key'), qos: 2, messageId: 7, retain: false, dup: false });
  await raw.next('pubrec', 7);
  raw.destroy();
  assert.ok(await pollUntil(() => heldKeys(follower) === 1, PATIENCE_MS, 50), 'the follower holds the key it fetched');

  // The same client id, clean, on the follower: connects and leaves (a clean session ends there).
  const { packet, client } = await connack(follower, { clientId: 'keyed', clean: true });
  assert.equal(packet.returnCode, 0);
  await client.endAsync();
  const connections = async (): Promise<string> => (await (await fetch(`http://127.0.0.1:${follower.httpPort}/metrics`)).text()).match(/^tributary_mqtt_connections (\d+)/m)?.[1] ?? '?';
  assert.ok(await pollUntil(async () => (await connections()) === '0', PATIENCE_MS, 50), 'the follower saw the client leave');
  // A record fetched after that: the follower's writer has run whatever the disconnect asked of it.
  const { client: marker } = await connack(leader, { clientId: 'marker', clean: true });
  t.after(() => marker.end(true));
  await marker.publishAsync('plant/line/1', 'marker', { qos: 1 });
  assert.ok(await pollUntil(() => storedValues(follower).includes('marker'), PATIENCE_MS, 50));
  assert.equal(heldKeys(follower), 1, 'the key is still held on the follower');
  assert.equal(heldKeys(leader), 1, 'and on the leader');
});
