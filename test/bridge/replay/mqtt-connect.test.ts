// replay --to-mqtt with several addresses, as a user runs it (a child process), against real
// servers on loopback: a refused port, a server answering CONNACK 3 (a cluster's follower), one
// answering MQTT 5.0 CONNACK 0x9C with a Server Reference, and mosquitto. The replay connects to the
// first that takes it; when none does, one line names each address and why.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { Log } from '../../../broker/log/log.js';
import { referencedUrl } from '../../../bridge/replay/mqtt-connect.js';
import { parseMqttTargets } from '../../../bridge/replay/mqtt-target.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { runCliAsync } from '../../helpers/cli.js';
import { startMosquitto, subscribe } from '../../helpers/mosquitto.js';
import { payload, seed } from '../../helpers/replay-data.js';
import { connack3Server, refusingUrl } from '../../helpers/stand-in-brokers.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';

async function seeded(t: TestContext, records: number): Promise<string> {
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, durability: 'write' });
  await seed(log, 'telemetry', 1, records);
  await log.close();
  return dataDir;
}

/**
 * Answers an MQTT 5.0 CONNECT with CONNACK 0x9C (Use another server) naming `reference` (MQTT 5.0
 * section 4.11), a 3.1.1 one with return code 3; closes. Counts the CONNECTs.
 */
async function redirectServer(t: TestContext, reference: string): Promise<{ url: string; connects: () => number }> {
  let connects = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (packet) => {
      if (packet.cmd !== 'connect') return;
      connects++;
      const v5 = packet.protocolVersion === 5;
      const connack = v5 ? { cmd: 'connack' as const, reasonCode: 0x9c, sessionPresent: false, properties: { serverReference: reference } } : { cmd: 'connack' as const, returnCode: 3, sessionPresent: false };
      socket.end(mqttPacket.generate(connack, { protocolVersion: v5 ? 5 : 4 }));
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(t, async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, connects: () => connects };
}

test('a Server Reference: one of the list when its host:port is, else host:port on the answering address scheme', () => {
  const urls = ['mqtt://user:pw@10.0.0.1:1883', 'mqtt://user:pw@10.0.0.2:1883'];
  assert.equal(referencedUrl('10.0.0.2:1883', urls[0]!, urls), urls[1]);
  assert.equal(referencedUrl('mqtt://10.0.0.2:1883', urls[0]!, urls), urls[1]);
  assert.equal(referencedUrl('10.0.0.9:2883 10.0.0.2:1883', urls[0]!, urls), 'mqtt://user:pw@10.0.0.9:2883');
  assert.equal(referencedUrl('', urls[0]!, urls), null);
});

test('--to-mqtt lists: commas and repeats; one prefix on every address or none; differing ones are refused', () => {
  assert.deepEqual(parseMqttTargets(['mqtt://a:1/p,mqtt://b:2/p', 'mqtt://c:3/p']), { brokerUrls: ['mqtt://a:1', 'mqtt://b:2', 'mqtt://c:3'], prefix: 'p' });
  assert.throws(() => parseMqttTargets(['mqtt://a:1/p,mqtt://b:2']), /every address must carry the same topic prefix; mqtt:\/\/a:1 has 'p', mqtt:\/\/b:2 has ''/);
  assert.throws(() => parseMqttTargets([',']), /--to-mqtt is empty/);
});

test('past an unreachable address and a follower (CONNACK 3) to the broker that takes it: every record, nothing on stderr', async (t) => {
  const { port } = await startMosquitto(t);
  const dataDir = await seeded(t, 300);
  const refused = await refusingUrl(t);
  const follower = await connack3Server(t);
  const sub = await subscribe(t, port, 'replayed/#');
  const r = await runCliAsync(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--to-mqtt', `${refused}/replayed,${follower.url}/replayed`, '--to-mqtt', `mqtt://127.0.0.1:${port}/replayed`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.ok(follower.connects() >= 1, 'the follower was asked');
  await waitFor(() => sub.messages.length >= 300, 'mosquitto_sub to receive 300 messages');
  assert.deepEqual(new Set(sub.messages.map((m) => m.hex)), new Set(Array.from({ length: 300 }, (_, i) => payload(0, i).toString('hex'))));
});

test('an MQTT 5.0 redirect (CONNACK 0x9C) is followed to the Server Reference, an address not in the list', async (t) => {
  const { port } = await startMosquitto(t);
  const dataDir = await seeded(t, 100);
  const redirect = await redirectServer(t, `127.0.0.1:${port}`);
  const refused = await refusingUrl(t);
  const sub = await subscribe(t, port, 'site/#');
  const r = await runCliAsync(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--to-mqtt', `${redirect.url},${refused}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(redirect.connects(), 1, 'asked once, then sent on');
  await waitFor(() => sub.messages.length >= 100, 'mosquitto_sub to receive 100 messages');
  assert.equal(new Set(sub.messages.map((m) => m.hex)).size, 100);
});

test('every address refusing: one line naming each address and why, the exit code of one unreachable broker', async (t) => {
  const dataDir = await seeded(t, 10);
  const refused = await refusingUrl(t);
  const follower = await connack3Server(t);
  const r = await runCliAsync(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--to-mqtt', `${refused},${follower.url}`]);
  const single = await runCliAsync(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--to-mqtt', refused]);
  assert.equal(r.status, single.status);
  assert.notEqual(r.status, 0);
  const quote = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(r.stderr, new RegExp(`^tributary: --to-mqtt: no address took the connection: ${quote(refused)} \\([^)]*ECONNREFUSED[^)]*\\); ${quote(follower.url)} \\([^)]+\\) \\[TRIB_REPLAY_TARGET\\]\\n$`));
});
