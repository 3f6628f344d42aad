// Backpressure for real: the node runs on a small tmpfs in its own mount namespace (util-linux
// `unshare`, no root needed) and the test fills that disk. Publishers are then held, not
// acknowledged and not buffered: the front end stops reading their sockets until the disk has room.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import YAML from 'yaml';
import { tempDir } from '../helpers/temp-dir.js';
import { startNodeOnTinyDisk } from '../helpers/tiny-disk.js';
import { PATIENCE_MS, pollUntil } from '../helpers/wait-for.js';

interface Stats {
  stats: { appendRetries: number };
  rss: number;
}

test('disk full: QoS 1 is held without PUBACK, the socket is not read, and all is stored once the disk has room', async (t) => {
  // Room for what the flood's connection still holds when the disk is freed: the broker reads and
  // stores it then (TCP delivered it), and on a disk of a few MB that filled it again, holding the
  // QoS 1 publisher for good (seen under a loaded suite).
  const { exited, port, ask } = await startNodeOnTinyDisk(t, 64);

  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'held-client', reconnectPeriod: 0, keepalive: 300 });
  t.after(() => client.end(true));
  await new Promise((resolve) => client.once('connect', resolve));
  for (let i = 0; i < 5; i++) await client.publishAsync('plant/meter', `before-${i}`, { qos: 1 });

  assert.ok(((await ask('fill')).filled as number) > 0);
  let acked = false;
  const held = client.publishAsync('plant/meter', 'while-full', { qos: 1 }).then(() => (acked = true));
  const stats = async (): Promise<Stats> => (await ask('stats')) as unknown as Stats;
  for (let s = await stats(); s.stats.appendRetries === 0; s = await stats()) await new Promise((r) => setTimeout(r, 50));
  assert.equal(acked, false, 'no PUBACK while the message is not durable');

  // A QoS 0 flood on another connection while the disk is full: the broker stops reading it.
  const rssBefore = (await stats()).rss;
  const flood = tcpConnect(port, '127.0.0.1');
  flood.on('error', () => undefined);
  await new Promise((resolve) => flood.once('connect', resolve));
  flood.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'flood', clean: true, keepalive: 300 }));
  const chunk = Buffer.concat(Array.from({ length: 256 }, (_, i) => mqttPacket.generate({ cmd: 'publish', topic: 'flood/x', payload: Buffer.alloc(1000, i), qos: 0, dup: false, retain: false })));
  let offered = 0;
  const OFFER = 64 * 1024 * 1024;
  while (offered < OFFER) {
    offered += chunk.length;
    if (!flood.write(chunk)) {
      const drained = await Promise.race([new Promise((resolve) => flood.once('drain', () => resolve(true))), new Promise((resolve) => setTimeout(() => resolve(false), 2000))]);
      if (!drained) break; // the broker has stopped reading
    }
  }
  const accepted = offered - flood.writableLength;
  const rssAfter = (await stats()).rss;
  assert.ok(accepted < 24 * 1024 * 1024, `the broker read ${accepted} bytes of a flood it cannot store`);
  assert.ok(rssAfter - rssBefore < 48 * 1024 * 1024, `memory grew by ${rssAfter - rssBefore} bytes while the disk was full`);
  flood.destroy();

  await ask('free');
  await held;
  await client.publishAsync('plant/meter', 'after', { qos: 1 });
  const { values } = (await ask('values held-client')) as { values: string[] };
  assert.deepEqual(values, ['before-0', 'before-1', 'before-2', 'before-3', 'before-4', 'while-full', 'after']);
  await ask('stop');
  assert.equal((await exited).code, 0);
});

test('disk full without the fast path: publishes through aedes are held the same way, each retried until stored', async (t) => {
  const config = join(tempDir(t), 'tributary.yaml');
  writeFileSync(config, YAML.stringify({ mqtt: { host: '127.0.0.1', fastPath: false } }));
  const { exited, port, ask } = await startNodeOnTinyDisk(t, 16, config);
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: 'held-client', reconnectPeriod: 0, keepalive: 300 });
  t.after(() => client.end(true));
  await new Promise((resolve) => client.once('connect', resolve));
  await client.publishAsync('plant/meter', 'before', { qos: 1 });

  assert.ok(((await ask('fill')).filled as number) > 0);
  let acked = 0;
  const held = ['while-full-1', 'while-full-2'].map((value) => client.publishAsync('plant/meter', value, { qos: 1 }).then(() => acked++));
  const retries = async (): Promise<number> => ((await ask('stats')) as unknown as Stats).stats.appendRetries;
  // Retried more than once: the held publish goes on being retried, not given up after one try.
  // Bounded, so that a publisher dropped instead of held fails here rather than hanging.
  await pollUntil(async () => !client.connected || (await retries()) >= 2, PATIENCE_MS, 50);
  assert.equal(client.connected, true, 'the publisher is held, not disconnected');
  assert.ok((await retries()) >= 2, 'the held appends are retried');
  assert.equal(acked, 0, 'no PUBACK while the message is not durable');

  await ask('free');
  await Promise.all(held);
  const { values } = (await ask('values held-client')) as { values: string[] };
  // Each publish through aedes is held on its own timer (with jitter), so two held at once may be
  // stored in either order; their PUBACKs still follow arrival order (ack-queue.ts).
  assert.deepEqual([values[0], ...values.slice(1).sort()], ['before', 'while-full-1', 'while-full-2']);
  await ask('stop');
  assert.equal((await exited).code, 0);
});
