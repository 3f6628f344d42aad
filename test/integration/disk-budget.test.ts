// The disk budget seen from a device (docs/disk.md): with upstream on and Kafka out of reach,
// nothing stored counts as forwarded, so at the budget a QoS 1 publisher is held (no PUBACK, the
// connection open, the append retried) rather than its message dropped or the disk filled; once
// space is back (here: an operator tightens retention), the held publish is stored and acknowledged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connackOf, startNodeAtBudget } from '../helpers/disk-budget.js';
import { connect, startTestNode } from '../helpers/mqtt-node.js';
import { waitFor } from '../helpers/wait-for.js';

const MiB = 1024 * 1024;

test('at the disk budget a QoS 1 publisher is held, then acknowledged once space is back; nothing acknowledged is lost', async (t) => {
  const budget = 16 * MiB;
  const { node, url } = await startTestNode(t, {
    log: { disk: { maxBytes: budget, minFreeBytes: null } },
    topics: [{ name: 'mqtt', partitions: 1 }],
    // Upstream on, but nothing listens there: no record is ever forwarded.
    upstream: { enabled: true, brokers: ['127.0.0.1:1'], retryInitial: 100, retryMax: 1000, requestTimeout: 1000 },
  });
  const client = await connect(t, url, { clientId: 'budget-press' });
  const payload = Buffer.alloc(8000, 120);
  let acked = 0;
  let sent = 0;
  // Publish until the budget holds appends: the check runs once a second on its own.
  while (!node.log.diskStatus().holding) {
    const burst = Array.from({ length: 50 }, () => client.publishAsync('plant/press', payload, { qos: 1 }).then(() => acked++));
    sent += burst.length;
    await Promise.race([Promise.all(burst), waitFor(() => node.log.diskStatus().holding, 'holding', 60_000)]);
    assert.ok(sent < 20_000, 'the budget held before 160 MB were sent');
  }
  const status = node.log.diskStatus();
  assert.ok(status.usedBytes < budget + 8 * MiB, `the directory stayed near its budget (${status.usedBytes} bytes)`);
  assert.equal(node.log.partition('mqtt', 0).logStartOffset, 0, 'nothing unforwarded was deleted by the budget');

  // A publish now is held: retried, not acknowledged, not refused, the connection kept.
  const retriesBefore = node.mqtt.stats.appendRetries;
  let heldAcked = false;
  const held = client.publishAsync('plant/press', Buffer.from('held'), { qos: 1 }).then(() => (heldAcked = true));
  await waitFor(() => node.mqtt.stats.appendRetries > retriesBefore, 'the held append to be retried', 30_000);
  assert.equal(heldAcked, false, 'no PUBACK while the budget holds');
  assert.ok(client.connected, 'the publisher stays connected');

  // Space comes back (retention, tightened by hand): the budget lets go and the publish is stored.
  await node.log.createTopic('mqtt', 1, { maxAgeMs: null, maxBytes: 4 * MiB });
  await node.log.enforceRetention();
  await held;
  await waitFor(() => acked === sent, 'every publish of the bursts acknowledged', 30_000);
  await waitFor(() => !node.log.diskStatus().holding, 'the budget to let go', 30_000);
  const p = node.log.partition('mqtt', 0);
  const last = node.log.read('mqtt', 0, p.logEndOffset - 1, { maxRecords: 1 }).records[0]!;
  assert.equal(last.value!.toString(), 'held', 'the held publish is the last record stored');
  assert.equal(p.logEndOffset, sent + 1, 'every acknowledged publish was stored once');
});

test('at the disk budget an MQTT 5.0 QoS 1 publish is answered PUBACK 0x97 (quota exceeded) at once, not held; a 3.1.1 one is still held', async (t) => {
  const budget = 16 * MiB;
  const { node, url } = await startTestNode(t, {
    log: { disk: { maxBytes: budget, minFreeBytes: null } },
    topics: [{ name: 'mqtt', partitions: 1 }],
    upstream: { enabled: true, brokers: ['127.0.0.1:1'], retryInitial: 100, retryMax: 1000, requestTimeout: 1000 },
  });
  const client = await connect(t, url, { clientId: 'budget-v5', protocolVersion: 5 });
  const payload = Buffer.alloc(8000, 120);
  let sent = 0;
  const refusals: number[] = [];
  const publish = (body: Buffer): Promise<void> =>
    client.publishAsync('plant/press', body, { qos: 1 }).then(
      () => undefined,
      (err: { code?: number }) => void refusals.push(err.code ?? -1),
    );
  let burst: Promise<void>[] = [];
  while (!node.log.diskStatus().holding) {
    burst = Array.from({ length: 50 }, () => publish(payload));
    sent += burst.length;
    await Promise.race([Promise.all(burst), waitFor(() => node.log.diskStatus().holding, 'holding', 60_000)]);
    assert.ok(sent < 20_000, 'the budget held before 160 MB were sent');
  }
  // The last burst's publishes still in flight when the budget began to hold are answered too
  // (stored, or 0x97): settled before the one publish this test watches, whose answer must be its own.
  await Promise.all(burst);
  const end = node.log.partition('mqtt', 0).logEndOffset;
  const before = refusals.length;
  const quotaBefore = node.mqtt.stats.refused['quota exceeded'] ?? 0;
  await publish(Buffer.from('refused')); // no properties: the fast path's
  assert.deepEqual(refusals.slice(before), [0x97], 'PUBACK 0x97 for the publish made while the budget holds');
  // With a property it goes through aedes: the same answer.
  await client.publishAsync('plant/press', 'refused too', { qos: 1, properties: { userProperties: { k: 'v' } } }).then(
    () => assert.fail('acknowledged while the budget holds'),
    (err: { code?: number }) => assert.equal(err.code, 0x97),
  );
  assert.equal(node.mqtt.stats.refused['quota exceeded'], quotaBefore + 2, 'counted by both paths');
  assert.ok(client.connected, 'the publisher stays connected');
  assert.equal(node.log.partition('mqtt', 0).logEndOffset, end, 'nothing stored for it');
  assert.ok(refusals.every((code) => code === 0x97), `every refusal was quota exceeded: ${refusals.join(',')}`);
});

/**
 * While a publish is held, a new connection is refused: MQTT 5.0 CONNACK 0x89 (Server busy), 3.1.1
 * return code 3 (Server unavailable); once it is stored, connections are taken again. Filled and held
 * with one QoS, so that every held publish is of one path (QoS 1: the fast path; QoS 2: aedes).
 */
async function busyWhileHeld(t: Parameters<typeof startNodeAtBudget>[0], qos: 1 | 2): Promise<void> {
  const { node, url, publisher, freeSpace } = await startNodeAtBudget(t, qos);
  const retriesBefore = node.mqtt.stats.appendRetries;
  const held = publisher.publishAsync('plant/press', Buffer.from('held'), { qos });
  await waitFor(() => node.mqtt.stats.appendRetries > retriesBefore, 'the held append to be retried', 30_000);

  assert.equal((await connackOf(t, url, { clientId: 'busy-v5', protocolVersion: 5 })).reasonCode, 0x89, 'v5: server busy');
  assert.equal((await connackOf(t, url, { clientId: 'busy-v4', protocolVersion: 4 })).returnCode, 3, '3.1.1: server unavailable');
  assert.equal(node.mqtt.stats.connectionsRefused['server busy'], 2);
  assert.ok(publisher.connected, 'the held publisher stays connected');

  await freeSpace();
  await held;
  assert.equal((await connackOf(t, url, { clientId: 'after-v5', protocolVersion: 5 })).reasonCode, 0, 'v5 taken once the publish is stored');
  assert.equal((await connackOf(t, url, { clientId: 'after-v4', protocolVersion: 4 })).returnCode, 0, '3.1.1 taken once the publish is stored');
}

test('MQTT 5.0 section 3.2.2.2: while a fast-path publish (3.1.1 QoS 1) is held at the disk budget, a v5 CONNECT gets CONNACK 0x89 and a 3.1.1 one 3; taken again once it is stored', async (t) => {
  await busyWhileHeld(t, 1);
});

test('MQTT 5.0 section 3.2.2.2: while an aedes-path publish (3.1.1 QoS 2) is held at the disk budget, a v5 CONNECT gets CONNACK 0x89 and a 3.1.1 one 3; taken again once it is stored', async (t) => {
  await busyWhileHeld(t, 2);
});
