// Persistent sessions' offline queues through the whole front end, with real MQTT.js clients: a
// queue longer than a page is delivered whole, in order and once across a restart; a full queue
// refuses newer messages and counts them; a session offline longer than mqtt.sessions.expiry is
// removed, at start-up and by the timer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connect, startTestNode } from '../../helpers/mqtt-node.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';

/** Leaves a persistent QoS 1 subscription to alarms/# behind. */
async function leaveSession(t: Parameters<typeof connect>[0], url: string): Promise<void> {
  const subscriber = await connect(t, url, { clientId: 'historian', clean: false });
  await subscriber.subscribeAsync('alarms/#', { qos: 1 });
  await subscriber.endAsync();
}

async function publish(publisher: MqttClient, from: number, count: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => publisher.publishAsync('alarms/boiler', String(from + i), { qos: 1 })));
}

test('a queue of several pages is delivered whole and in order after a restart, and leaves the queue when acknowledged', async (t) => {
  const dataDir = tempDir(t);
  let running = await startTestNode(t, {}, dataDir);
  await leaveSession(t, running.url);
  const publisher = await connect(t, running.url, { clientId: 'plc' });
  for (let i = 0; i < 700; i += 100) await publish(publisher, i, 100); // in order: 100 in flight at a time
  await publisher.endAsync();
  await running.close();

  running = await startTestNode(t, {}, dataDir);
  assert.equal(running.node.mqtt.queuedMessages, 700);
  const received: number[] = [];
  const subscriber = await connect(t, running.url, { clientId: 'historian', clean: false }, (_topic, payload) => received.push(Number(payload.toString())));
  await waitFor(() => received.length >= 700, 'all 700 messages');
  await subscriber.endAsync(); // its PUBACKs are written before it goes
  assert.deepEqual(received, Array.from({ length: 700 }, (_, i) => i));
  await waitFor(() => running.node.mqtt.queuedMessages === 0, 'acknowledged messages leave the queue');
});

test('what is published while a queue drains is delivered once: by aedes, not read again from the queue', async (t) => {
  const { node, url } = await startTestNode(t);
  await leaveSession(t, url);
  const publisher = await connect(t, url, { clientId: 'plc' });
  for (let i = 0; i < 700; i += 100) await publish(publisher, i, 100);
  const received: number[] = [];
  const subscriber = await connect(t, url, { clientId: 'historian', clean: false }, (_topic, payload) => received.push(Number(payload.toString())));
  await publish(publisher, 700, 50);
  await waitFor(() => received.length >= 750, 'all 750 messages');
  await subscriber.endAsync();
  assert.equal(received.length, 750, 'nothing twice');
  assert.deepEqual(received.filter((n) => n < 700), Array.from({ length: 700 }, (_, i) => i), 'the queue in order');
  assert.deepEqual([...received].sort((a, b) => a - b), Array.from({ length: 750 }, (_, i) => i));
  await waitFor(() => node.mqtt.queuedMessages === 0, 'acknowledged messages leave the queue');
});

test('after a restart, messages published while a queue drains do not take the place of queued ones', async (t) => {
  // aedes numbers its packets from 1 in every run under the same broker id; a queued delivery is found by that pair.
  const dataDir = tempDir(t);
  let running = await startTestNode(t, {}, dataDir);
  await leaveSession(t, running.url);
  const publisher = await connect(t, running.url, { clientId: 'plc' });
  for (let i = 0; i < 700; i += 100) await publish(publisher, i, 100);
  await publisher.endAsync();
  await running.close();

  running = await startTestNode(t, {}, dataDir);
  const received: number[] = [];
  const subscriber = await connect(t, running.url, { clientId: 'historian', clean: false }, (_topic, payload) => received.push(Number(payload.toString())));
  const live = await connect(t, running.url, { clientId: 'plc' });
  await publish(live, 700, 50);
  await waitFor(() => received.length >= 750, 'all 750 messages');
  await subscriber.endAsync();
  assert.deepEqual([...received].sort((a, b) => a - b), Array.from({ length: 750 }, (_, i) => i), 'each message once');
  await waitFor(() => running.node.mqtt.queuedMessages === 0, 'nothing left queued to be sent again');
});

test('a full offline queue keeps its oldest messages; those refused are counted', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { sessions: { maxQueuedMessages: 5 } } });
  await leaveSession(t, url);
  const publisher = await connect(t, url, { clientId: 'plc' });
  for (let i = 0; i < 8; i++) await publisher.publishAsync('alarms/boiler', String(i), { qos: 1 });
  assert.deepEqual(node.mqtt.stats.queuedDropped, { messages: 3 });
  assert.equal(node.mqtt.queuedMessages, 5);
  const received: string[] = [];
  await connect(t, url, { clientId: 'historian', clean: false }, (_topic, payload) => received.push(payload.toString()));
  await waitFor(() => received.length === 5, 'the five queued messages');
  // Back online, it receives beyond the bound again.
  for (let i = 8; i < 16; i++) await publisher.publishAsync('alarms/boiler', String(i), { qos: 1 });
  await waitFor(() => received.length === 13, 'the live messages');
  assert.deepEqual(received, ['0', '1', '2', '3', '4', '8', '9', '10', '11', '12', '13', '14', '15']);
  const metrics = await (await fetch(`http://127.0.0.1:${node.http.port}/metrics`)).text();
  assert.match(metrics, /^tributary_mqtt_queued_dropped_total\{reason="messages"\} 3$/m);
});

test('a session offline longer than mqtt.sessions.expiry is removed at start-up', async (t) => {
  const dataDir = tempDir(t);
  let running = await startTestNode(t, {}, dataDir);
  await leaveSession(t, running.url);
  const publisher = await connect(t, running.url, { clientId: 'plc' });
  await publisher.publishAsync('alarms/boiler', 'queued', { qos: 1 });
  await publisher.endAsync();
  await running.close();

  running = await startTestNode(t, { mqtt: { sessions: { expiry: '1ms' } } }, dataDir);
  assert.equal(running.node.mqtt.stats.sessionsExpired, 1);
  assert.equal(running.node.mqtt.queuedMessages, 0);
  const received: string[] = [];
  const back = await connect(t, running.url, { clientId: 'historian', clean: false }, (_topic, payload) => received.push(payload.toString()));
  const later = await connect(t, running.url, { clientId: 'plc' });
  await later.publishAsync('alarms/boiler', 'after', { qos: 1 });
  await back.endAsync();
  assert.deepEqual(received, [], 'neither the queue nor the subscription is left');
});

test('a session that goes offline is removed by the expiry timer; a connected one is not', async (t) => {
  const { node, url } = await startTestNode(t, { mqtt: { sessions: { expiry: '1ms' } } });
  const staying = await connect(t, url, { clientId: 'dashboard', clean: false });
  await staying.subscribeAsync('alarms/#', { qos: 1 });
  await leaveSession(t, url);
  await waitFor(() => node.mqtt.stats.sessionsExpired === 1, 'the sweep');
  const raw = await RawMqtt.open(node.mqtt.ports.tcp);
  t.after(() => raw.destroy());
  const { sessionPresent } = await raw.connect('historian', false);
  assert.equal(sessionPresent, false, 'CONNACK: no session present [MQTT-3.2.2-3]');
  const received: string[] = [];
  staying.on('message', (_topic, payload) => received.push(payload.toString()));
  const publisher = await connect(t, url, { clientId: 'plc' });
  await publisher.publishAsync('alarms/boiler', 'still here', { qos: 1 });
  await waitFor(() => received.length === 1, 'delivery to the connected session');
  assert.equal(node.mqtt.stats.sessionsExpired, 1);
});
