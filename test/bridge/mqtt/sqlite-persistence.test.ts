// The SQLite session store against aedes-persistence's own abstract test suite (the contract
// every aedes persistence must meet), plus what only a durable store can show: a restart.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { SessionStoreError } from '../../../broker/errors.js';
import { SqlitePersistence } from '../../../bridge/mqtt/sqlite-persistence.js';
import { tempDir } from '../../helpers/temp-dir.js';

const require = createRequire(import.meta.url);
const abstractSuite = require('aedes-persistence/abstract.js') as (options: object) => void;

// The suite makes hundreds of instances; each gets a fresh file in one directory removed at exit.
const suiteDir = mkdtempSync(join(tmpdir(), 'tributary-persistence-'));
process.on('exit', () => rmSync(suiteDir, { recursive: true, force: true }));
let instances = 0;
abstractSuite({
  test,
  persistence: () => new SqlitePersistence({ file: join(suiteDir, `mqtt-${instances++}.db`) }),
  testAsync: true,
});

const client = { id: 'historian' };
const broker = { id: 'node-1' };

test('everything a session needs survives closing and reopening the file', async (t) => {
  const file = join(tempDir(t), 'mqtt.db');
  const first = new SqlitePersistence({ file });
  await first.setup(broker);
  await first.addSubscriptions(client, [{ topic: 'alarms/#', qos: 1 }, { topic: 'status/+', qos: 0 }]);
  await first.storeRetained({ cmd: 'publish', topic: 'status/pump', payload: Buffer.from([0, 1, 2, 255]), qos: 1, retain: true });
  await first.putWill(client, { cmd: 'publish', topic: 'status/historian', payload: Buffer.from('offline'), qos: 1, retain: false });
  await first.outgoingEnqueueCombi([{ clientId: client.id }], { cmd: 'publish', topic: 'alarms/boiler', payload: Buffer.from('hot'), qos: 1, retain: false, brokerId: 'node-1', brokerCounter: 7 });
  await first.incomingStorePacket(client, { cmd: 'publish', topic: 'meter/1', payload: Buffer.from('kWh'), qos: 2, messageId: 42 });
  await first.destroy();

  const second = new SqlitePersistence({ file });
  t.after(() => second.destroy());
  await second.setup(broker);
  assert.deepEqual(await second.subscriptionsByClient(client), [{ topic: 'alarms/#', qos: 1 }, { topic: 'status/+', qos: 0 }]);
  assert.deepEqual((await second.subscriptionsByTopic('alarms/boiler')).map((s) => s.clientId), ['historian'], 'the topic index is rebuilt');
  const retained = await second.createRetainedStream('status/#').toArray();
  assert.deepEqual(retained.map((p: { payload: Buffer }) => p.payload), [Buffer.from([0, 1, 2, 255])]);
  assert.equal((await second.getWill(client))?.payload.toString(), 'offline');
  const wills = await second.streamWill({}).toArray();
  assert.equal(wills.length, 1, 'a will left by a previous run is offered for publishing');
  const queued = await second.outgoingStream(client).toArray();
  assert.deepEqual(queued.map((p: { topic: string }) => p.topic), ['alarms/boiler']);
  assert.equal((await second.incomingGetPacket(client, { messageId: 42 })).topic, 'meter/1');
});

test('the hooks hear of completed and cleaned QoS 2 state', async (t) => {
  const released: string[] = [];
  const store = new SqlitePersistence({
    file: join(tempDir(t), 'mqtt.db'),
    onIncomingReleased: (clientId, messageId) => released.push(`${clientId}#${messageId}`),
    onIncomingCleaned: (clientId) => released.push(`${clientId}*`),
  });
  t.after(() => store.destroy());
  await store.setup(broker);
  await store.incomingStorePacket(client, { cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 2, messageId: 5 });
  await store.incomingDelPacket(client, { messageId: 5 });
  await assert.rejects(store.incomingDelPacket(client, { messageId: 5 }), /no such packet/);
  await store.cleanIncoming(client);
  assert.deepEqual(released, ['historian#5', 'historian*']);
});

test('a file that is not a database gives TRIB_MQTT_SESSION_STORE naming it', (t) => {
  const file = join(tempDir(t), 'mqtt.db');
  writeFileSync(file, Buffer.alloc(8192, 0x41));
  assert.throws(
    () => new SqlitePersistence({ file }),
    (err: unknown) => err instanceof SessionStoreError && err.code === 'TRIB_MQTT_SESSION_STORE' && err.message.includes(file),
  );
});
