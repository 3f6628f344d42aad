// What lives beside the records replicates too (docs/replication.md, "State beside the records"):
// three real `tributary start` nodes on loopback, real MQTT and Kafka clients, the leader
// SIGKILLed; what a client committed or left on the old leader is found on the new one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import { hashPassword } from '../../bridge/shared/passwords.js';
import { RawMqtt } from '../helpers/raw-mqtt.js';
import { startReplicas, storedValues, waitForLeader, type Replica } from '../helpers/replicas.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

const run = promisify(execFile);

function connect(replica: Replica, clientId: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${replica.mqttPort}`, { clientId, reconnectPeriod: 0, connectTimeout: 30_000, ...options });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

async function publishAll(replica: Replica, clientId: string, payloads: readonly string[]): Promise<void> {
  const client = await connect(replica, clientId);
  for (const payload of payloads) await client.publishAsync('plant/line/power', payload, { qos: 1 });
  await client.endAsync();
}

/** kcat in group `group` on `replica`'s Kafka endpoint, to the end of `mqtt`, then closed (committing what it read): the values read. */
async function kcatGroupToEnd(replica: Replica, group: string): Promise<string[]> {
  const { stdout } = await run('kcat', ['-b', `127.0.0.1:${replica.kafkaPort}`, '-G', group, '-X', 'auto.offset.reset=earliest', '-e', '-f', '%s\n', 'mqtt'], { timeout: 60_000 });
  return stdout.split('\n').filter((line) => line !== '');
}

interface ReaderJson {
  reader: string;
  topic: string;
  partition: number;
  nextOffset: number;
}

async function readers(replica: Replica): Promise<ReaderJson[]> {
  const res = await fetch(`http://127.0.0.1:${replica.httpPort}/api/readers`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { readers: ReaderJson[] }).readers;
}

test("a replay reader's and Kafka groups' committed positions (also of a group that knows only a follower) are on the new leader after the old one is SIGKILLed", async (t) => {
  const replicas = await startReplicas(t, 3, { kafka: true });
  const leader = await waitForLeader(replicas);
  await publishAll(leader, 'positions-1', ['a', 'b', 'c', 'd', 'e']);

  // A named replay reader commits through the HTTP API; a Kafka group through kcat (OffsetCommit).
  const commit = await fetch(`http://127.0.0.1:${leader.httpPort}/api/readers/dashboard/positions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'mqtt', positions: [{ partition: 0, nextOffset: 3 }] }),
  });
  assert.equal(commit.status, 200, await commit.text());
  assert.deepEqual((await kcatGroupToEnd(leader, 'archiver')).sort(), ['a', 'b', 'c', 'd', 'e']);
  // A group whose client knows only a follower: FindCoordinator there names the leader, where the commit goes.
  const followers = replicas.filter((r) => r !== leader);
  assert.deepEqual((await kcatGroupToEnd(followers[0]!, 'auditor')).sort(), ['a', 'b', 'c', 'd', 'e']);
  const before = (await readers(leader)).map((r) => [r.reader, r.topic, r.partition, r.nextOffset]);
  assert.deepEqual(before, [['dashboard', 'mqtt', 0, 3], ['kafka:archiver', 'mqtt', 0, 5], ['kafka:auditor', 'mqtt', 0, 5]]);

  // Each position committed on the leader is a record the followers apply; wait until both hold them.
  let seen: unknown = null;
  await pollUntil(async () => {
    const lists = await Promise.all(followers.map(async (f) => (await readers(f)).map((r) => [r.reader, r.topic, r.partition, r.nextOffset])));
    seen = lists;
    return lists.every((l) => JSON.stringify(l) === JSON.stringify(before));
  }, PATIENCE_MS, 50);
  assert.deepEqual(seen, [before, before], 'the followers hold the leader positions');

  await leader.kill();
  const next = await waitForLeader(followers);
  assert.deepEqual((await readers(next)).map((r) => [r.reader, r.topic, r.partition, r.nextOffset]), before);
  // The group resumes on the new leader where it committed on the old one.
  await publishAll(next, 'positions-2', ['f', 'g']);
  assert.deepEqual((await kcatGroupToEnd(next, 'archiver')).sort(), ['f', 'g']);
  // And its new commit is on the follower that is left (and on the old leader once it is back).
  await leader.restart();
  let back: ReaderJson[] = [];
  await pollUntil(async () => {
    back = await readers(leader).catch(() => []); // its HTTP API may not be up yet
    return back.some((r) => r.reader === 'kafka:archiver' && r.nextOffset === 7);
  }, PATIENCE_MS, 50);
  assert.deepEqual(back.map((r) => [r.reader, r.nextOffset]), [['dashboard', 3], ['kafka:archiver', 7], ['kafka:auditor', 5]]);
});

/** Subscribes to `filter` on `replica` and collects the retained messages it is sent (they come right after SUBACK). */
async function retainedOn(replica: Replica, filter: string, expected: number): Promise<Array<[string, string]>> {
  const client = await connect(replica, `retained-reader-${Date.now()}`);
  const got: Array<[string, string]> = [];
  client.on('message', (topic, payload, packet) => {
    if (packet.retain) got.push([topic, payload.toString()]);
  });
  await client.subscribeAsync(filter, { qos: 1 });
  // Bounded: the retained messages arrive after SUBACK; wait for the expected count, then a round trip more.
  await pollUntil(() => got.length >= expected);
  await client.publishAsync('probe/done', 'x', { qos: 1 });
  await client.endAsync();
  return got.sort();
}

test('retained messages set and cleared on the leader are what a new subscriber of the new leader gets after a SIGKILL', async (t) => {
  const replicas = await startReplicas(t, 3);
  const leader = await waitForLeader(replicas);
  const publisher = await connect(leader, 'retained-publisher');
  await publisher.publishAsync('site/press-1/state', 'running', { qos: 1, retain: true });
  await publisher.publishAsync('site/press-2/state', 'stopped', { qos: 1, retain: true });
  await publisher.publishAsync('site/press-3/state', 'idle', { qos: 1, retain: true });
  await publisher.publishAsync('site/press-2/state', '', { qos: 1, retain: true }); // [MQTT-3.3.1-10] clears it
  await publisher.endAsync();
  const expected: Array<[string, string]> = [['site/press-1/state', 'running'], ['site/press-3/state', 'idle']];
  assert.deepEqual(await retainedOn(leader, 'site/#', 2), expected);

  // The followers apply the records as they fetch them: wait until the leader's last entry is everywhere.
  await waitForCopies(replicas, leader);
  await leader.kill();
  const next = await waitForLeader(replicas.filter((r) => r !== leader));
  assert.deepEqual(await retainedOn(next, 'site/#', 2), expected);
});

/** Waits (bounded) until every running replica holds `leader`'s last entry. */
async function waitForCopies(replicas: readonly Replica[], leader: Replica): Promise<void> {
  const last = (await leader.status())!.last.seq;
  const copied = async (): Promise<boolean> => (await Promise.all(replicas.map((r) => r.status()))).every((s) => s !== null && s.last.seq >= last);
  if (await pollUntil(copied, PATIENCE_MS, 50)) return;
  throw new Error(`the replicas do not hold entry ${last}`);
}

const qos2 = (messageId: number, payload: string, dup = false): IPublishPacket => ({ cmd: 'publish', topic: 'plant/line/power', payload: Buffer.from(payload), qos: 2, messageId, dup, retain: false });

test('a QoS 2 publish whose PUBREC was lost to a failover, resent to the new leader, is stored once; a released packet id carries a new message there', async (t) => {
  const replicas = await startReplicas(t, 3);
  const leader = await waitForLeader(replicas);
  const raw = await RawMqtt.open(leader.mqttPort);
  t.after(() => raw.destroy());
  assert.equal(((await raw.connect('press-7', false)) as IConnackPacket).returnCode, 0);
  // Packet id 8: a whole handshake on the old leader; its release must reach the new leader.
  raw.send(qos2(8, 'eight'));
  await raw.next('pubrec', 8);
  raw.send({ cmd: 'pubrel', messageId: 8 });
  await raw.next('pubcomp', 8);
  // Packet id 7: stored and committed (PUBREC sent), but the PUBREC is "lost": the client never
  // goes on to PUBREL, and the leader dies. [MQTT-4.3.3] the client resends the PUBLISH (DUP).
  raw.send(qos2(7, 'seven'));
  await raw.next('pubrec', 7);
  // Packet id 9: PUBREC arrived; the leader dies before the client's PUBREL reaches it.
  raw.send(qos2(9, 'nine'));
  await raw.next('pubrec', 9);
  await waitForCopies(replicas, leader);
  await leader.kill();
  raw.destroy();

  const next = await waitForLeader(replicas.filter((r) => r !== leader));
  const again = await RawMqtt.open(next.mqttPort);
  t.after(() => again.destroy());
  assert.equal(((await again.connect('press-7', false)) as IConnackPacket).returnCode, 0);
  // [MQTT-4.4.0-1] on the new connection: PUBREL for 9 (the new leader never saw its PUBLISH), PUBLISH 7 again.
  again.send({ cmd: 'pubrel', messageId: 9 });
  await again.next('pubcomp', 9);
  again.send(qos2(7, 'seven', true));
  await again.next('pubrec', 7);
  again.send({ cmd: 'pubrel', messageId: 7 });
  await again.next('pubcomp', 7);
  // Every packet id is free now: new messages under them are stored.
  again.send(qos2(8, 'eight-again'));
  await again.next('pubrec', 8);
  again.send({ cmd: 'pubrel', messageId: 8 });
  await again.next('pubcomp', 8);
  again.send(qos2(7, 'seven-again'));
  await again.next('pubrec', 7);
  again.send({ cmd: 'pubrel', messageId: 7 });
  await again.next('pubcomp', 7);
  again.send(qos2(9, 'nine-again'));
  await again.next('pubrec', 9);
  assert.deepEqual(storedValues(next), ['eight', 'seven', 'nine', 'eight-again', 'seven-again', 'nine-again']);
});

test('a persistent session subscribed on the leader is present on the new leader after a SIGKILL, and gets the messages of its subscription', async (t) => {
  const replicas = await startReplicas(t, 3);
  const leader = await waitForLeader(replicas);
  const subscriber = await connect(leader, 'hmi-3', { clean: false });
  await subscriber.subscribeAsync('plant/+/alarm', { qos: 1 });
  await subscriber.subscribeAsync('plant/+/temp', { qos: 1 });
  await subscriber.unsubscribeAsync('plant/+/temp');
  await subscriber.endAsync();
  await waitForCopies(replicas, leader);
  await leader.kill();

  const next = await waitForLeader(replicas.filter((r) => r !== leader));
  // Published while the session is offline: queued for it on the new leader [MQTT-3.1.2-5].
  const publisher = await connect(next, 'plc-1');
  await publisher.publishAsync('plant/line-2/alarm', 'overheat', { qos: 1 });
  await publisher.publishAsync('plant/line-2/temp', '95', { qos: 1 });
  await publisher.endAsync();

  const got: string[] = [];
  let present: boolean | undefined;
  const back = mqtt.connect(`mqtt://127.0.0.1:${next.mqttPort}`, { clientId: 'hmi-3', clean: false, reconnectPeriod: 0, connectTimeout: 30_000 });
  t.after(() => back.end(true));
  back.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`));
  await new Promise<void>((resolve, reject) => {
    back.once('connect', (connack) => {
      present = connack.sessionPresent;
      resolve();
    });
    back.once('error', reject);
  });
  assert.equal(present, true, 'session present on the new leader');
  await pollUntil(() => got.length > 0); // the queued message first, then the late one
  // A message published now reaches it too; after it, nothing else is owed.
  const late = await connect(next, 'plc-2');
  await late.publishAsync('plant/line-3/alarm', 'pressure', { qos: 1 });
  await late.endAsync();
  await pollUntil(() => got.length >= 2);
  assert.deepEqual(got, ['plant/line-2/alarm overheat', 'plant/line-3/alarm pressure']);
});

test("a persistent session's owner (mqtt.auth) is on the new leader too: another user cannot take the session over there, its own user resumes it", async (t) => {
  const hash = await hashPassword('s3cret');
  const replicas = await startReplicas(t, 3, { mqttYaml: `auth: { users: [{ username: ops, password: "${hash}" }, { username: intruder, password: "${hash}" }] }` });
  const leader = await waitForLeader(replicas);
  const owner = await connect(leader, 'hmi-9', { clean: false, username: 'ops', password: 's3cret' });
  await owner.subscribeAsync('plant/+/alarm', { qos: 1 });
  await owner.endAsync();
  await waitForCopies(replicas, leader);
  await leader.kill();

  const next = await waitForLeader(replicas.filter((r) => r !== leader));
  await assert.rejects(connect(next, 'hmi-9', { clean: false, username: 'intruder', password: 's3cret' }), 'another user is refused the client id');
  const back = await connect(next, 'hmi-9', { clean: false, username: 'ops', password: 's3cret' });
  t.after(() => back.end(true));
});
