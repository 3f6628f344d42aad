// Replay into a real broker: Debian's mosquitto on a free port, checked by an independent
// subscriber (mosquitto_sub) that prints each message's topic and payload bytes in hex.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import mqtt from 'mqtt';
import { Log } from '../../broker/log/log.js';
import { freePort, runCli, runCliAsync, startCliNode } from '../helpers/cli.js';
import { startMosquitto, subscribe } from '../helpers/mosquitto.js';
import { payload, seed, SPACING_MS } from '../helpers/replay-data.js';
import { tempDir } from '../helpers/temp-dir.js';
import { PATIENCE_MS, pollUntil, waitFor } from '../helpers/wait-for.js';

async function seeded(t: TestContext, partitions: number, perPartition: number): Promise<string> {
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, durability: 'write' });
  await seed(log, 'telemetry', partitions, perPartition);
  await log.close();
  return dataDir;
}

function expected(partitions: number, perPartition: number, prefix: string): string[] {
  const out: string[] = [];
  for (let p = 0; p < partitions; p++) for (let i = 0; i < perPartition; i++) out.push(`${prefix}site/${p}/sensor-${i % 5} ${payload(p, i).toString('hex')}`);
  return out.sort();
}

test('replay --to-mqtt republishes every record on its original topic under the prefix, byte for byte (QoS 1, data dir)', async (t) => {
  const { port } = await startMosquitto(t);
  const dataDir = await seeded(t, 2, 500);
  const sub = await subscribe(t, port, 'replayed/#');
  const r = await runCliAsync(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--to-mqtt', `mqtt://127.0.0.1:${port}/replayed`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, '');
  // QoS 1 acknowledged by the broker; the subscriber may still be printing the last ones.
  await waitFor(() => sub.messages.length >= 1000, 'mosquitto_sub to receive 1000 messages');
  assert.deepEqual(sub.messages.map((m) => `${m.topic} ${m.hex}`).sort(), expected(2, 500, 'replayed/'));
  // Per MQTT topic (one publisher, QoS 1) messages arrive in log order.
  for (let p = 0; p < 2; p++) {
    for (let s = 0; s < 5; s++) {
      const topic = `replayed/site/${p}/sensor-${s}`;
      const inLogOrder = Array.from({ length: 100 }, (_, k) => payload(p, s + 5 * k).toString('hex'));
      assert.deepEqual(sub.messages.filter((m) => m.topic === topic).map((m) => m.hex), inLogOrder, `${topic} in log order`);
    }
  }
});

test('over HTTP with QoS 2 and no prefix: the original topics; --rate and --speed hold the pace', async (t) => {
  const { port } = await startMosquitto(t);
  const dataDir = await seeded(t, 1, 200);
  const node = await startCliNode(t, dataDir);
  const sub = await subscribe(t, port, 'site/#');
  const r = await runCliAsync(['replay', '--url', node.url, '--topic', 'telemetry', '--to-mqtt', `mqtt://127.0.0.1:${port}`, '--qos', '2']);
  assert.equal(r.status, 0, r.stderr);
  await waitFor(() => sub.messages.length >= 200, 'mosquitto_sub to receive 200 messages');
  assert.deepEqual(sub.messages.map((m) => `${m.topic} ${m.hex}`).sort(), expected(1, 200, ''));

  // Pacing can only be checked from below: it must not go faster than asked.
  let started = Date.now();
  const rated = await runCliAsync(['replay', '--url', node.url, '--topic', 'telemetry', '--partition', '0', '--to-offset', '21', '--to-mqtt', `mqtt://127.0.0.1:${port}/paced`, '--rate', '20']);
  assert.equal(rated.status, 0, rated.stderr);
  assert.ok(Date.now() - started >= 1000, '21 messages at 20/s take at least a second');
  started = Date.now();
  // 101 records, SPACING_MS apart: 1 s of original time, played at 1x.
  const timed = await runCliAsync(['replay', '--url', node.url, '--topic', 'telemetry', '--partition', '0', '--to-offset', String(1 + 1000 / SPACING_MS), '--to-mqtt', `mqtt://127.0.0.1:${port}/paced`, '--speed', '1x']);
  assert.equal(timed.status, 0, timed.stderr);
  assert.ok(Date.now() - started >= 1000, 'one second of recorded time takes at least a second at 1x');
});

test('an unreachable broker is one clear line and a non-zero exit', async (t) => {
  const dataDir = await seeded(t, 1, 10);
  const port = await freePort();
  const r = await runCliAsync(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--to-mqtt', `mqtt://127.0.0.1:${port}`]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`^tributary: --to-mqtt: cannot connect to mqtt://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.* \\[TRIB_REPLAY_TARGET\\]\\n$`));
});

// The target is a Tributary node, whose PUBACK and PUBREC come only once the record is stored and
// fsynced: what it acknowledged is in its log after the SIGKILL. (A Mosquitto target acknowledges
// before it writes to its subscribers, so a kill between the two loses a record it acknowledged,
// which MQTT allows: a subscriber's copy is no proof of what the replay was told.)
test('the broker killed mid-replay: one clear line, non-zero exit, the reader covers only what was acknowledged', async (t) => {
  for (const [mode, qos] of [['data dir', '1'], ['HTTP', '2']] as const) {
    const port = await freePort();
    const targetDir = join(tempDir(t), 'target');
    const target = await startCliNode(t, targetDir, port);
    const dataDir = await seeded(t, 1, 3000);
    const node = mode === 'HTTP' ? await startCliNode(t, dataDir) : null;
    const source = node === null ? ['--data-dir', dataDir] : ['--url', node.url];
    const sub = await subscribe(t, port, 'replayed/#');
    const replay = runCliAsync(['replay', ...source, '--topic', 'telemetry', '--reader', 'victim', '--to-mqtt', `mqtt://127.0.0.1:${port}/replayed`, '--qos', qos, '--rate', '500']);
    await waitFor(() => sub.messages.length >= 300, 'mosquitto_sub to receive 300 messages');
    target.child.kill('SIGKILL');
    const r = await replay;
    assert.equal(r.status, 1, `${mode}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^tributary: --to-mqtt: publish to mqtt://127\\.0\\.0\\.1:${port} failed: [^\\n]+ \\[TRIB_REPLAY_TARGET\\]\\n$`), mode);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    await node?.stop();
    // Every record below the committed position is in the killed target's log (it acknowledged it).
    const listed = runCli(['readers', '--data-dir', dataDir, '--json']);
    const [position] = (JSON.parse(listed.stdout) as { readers: Array<{ nextOffset: number }> }).readers.map((p) => p.nextOffset);
    const stored = runCli(['replay', '--data-dir', targetDir, '--topic', 'mqtt', '--base64']);
    assert.equal(stored.status, 0, stored.stderr);
    const received = new Set(stored.stdout.split('\n').filter((l) => l !== '').map((l) => Buffer.from((JSON.parse(l) as { value: string }).value, 'base64').toString('hex')));
    assert.ok(position !== undefined && position > 0 && position < 3000, `${mode}: committed ${position}`);
    for (let i = 0; i < position!; i++) assert.ok(received.has(payload(0, i).toString('hex')), `${mode}: offset ${i} below the position ${position} is not in the target's log`);
  }
});

test('replay --to-mqtt speaks MQTT 5.0: stored mqtt.* property headers go out as properties to a v5 subscriber', async (t) => {
  const { port } = await startMosquitto(t);
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, durability: 'write' });
  await log.createTopic('mqtt', 1);
  const h = (name: string, value: string | Buffer): [string, Buffer] => [name, Buffer.from(value)];
  await log.append('mqtt', 0, [
    {
      timestamp: Date.now(),
      key: Buffer.from('props/a'),
      value: Buffer.from('{"t":21.5}'),
      headers: [
        h('mqtt.topic', 'props/a'), h('mqtt.qos', '1'), h('mqtt.payload_format', '1'), h('mqtt.message_expiry', '3600'),
        h('mqtt.content_type', 'application/json'), h('mqtt.response_topic', 'props/reply'), h('mqtt.correlation_data', Buffer.from([0, 1, 2])),
        h('mqtt.user.site', 'hall-3'), h('mqtt.user.line', '7'), h('mqtt.user.line', '8'),
      ],
    },
    // A 3.1.1 publish's record: no properties.
    { timestamp: Date.now(), key: Buffer.from('props/b'), value: Buffer.from('plain'), headers: [h('mqtt.topic', 'props/b'), h('mqtt.qos', '1')] },
  ]);
  await log.close();
  const received: Array<{ topic: string; payload: string; properties: Record<string, unknown> | undefined }> = [];
  const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: 'v5-sub', reconnectPeriod: 0 });
  t.after(() => subscriber.end(true));
  subscriber.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), properties: packet.properties as Record<string, unknown> | undefined }));
  await subscriber.subscribeAsync('props/#', { qos: 1 });
  const r = await runCliAsync(['replay', '--data-dir', dataDir, '--topic', 'mqtt', '--to-mqtt', `mqtt://127.0.0.1:${port}`]);
  assert.equal(r.status, 0, r.stderr);
  await waitFor(() => received.length === 2, 'both messages');
  const [a, b] = received;
  assert.equal(a!.topic, 'props/a');
  const p = a!.properties!;
  assert.equal(p.payloadFormatIndicator, true);
  assert.ok(typeof p.messageExpiryInterval === 'number' && p.messageExpiryInterval <= 3600 && p.messageExpiryInterval > 0);
  assert.equal(p.contentType, 'application/json');
  assert.equal(p.responseTopic, 'props/reply');
  assert.deepEqual([...(p.correlationData as Buffer)], [0, 1, 2]);
  assert.deepEqual({ ...(p.userProperties as object) }, { site: 'hall-3', line: ['7', '8'] });
  assert.deepEqual({ topic: b!.topic, payload: b!.payload, userProperties: b!.properties?.userProperties }, { topic: 'props/b', payload: 'plain', userProperties: undefined });
});
