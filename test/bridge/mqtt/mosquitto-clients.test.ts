// An independent MQTT implementation against the front end: Debian's mosquitto_pub and
// mosquitto_sub (package mosquitto-clients, which .ci/run installs).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { startTestNode } from '../../helpers/mqtt-node.js';
import { waitFor } from '../../helpers/wait-for.js';

const run = promisify(execFile);

test('mosquitto_pub at QoS 0, 1 and 2 is stored; mosquitto_sub receives live and retained messages', async (t) => {
  const { node } = await startTestNode(t);
  const port = String(node.mqtt.ports.tcp);
  const base = ['-h', '127.0.0.1', '-p', port, '-V', 'mqttv311'];

  // A retained message first: when the subscriber prints it, its subscription is in place.
  await run('mosquitto_pub', [...base, '-i', 'mosq-retain', '-t', 'plant/state', '-m', 'running', '-q', '1', '-r']);
  const sub = spawn('mosquitto_sub', [...base, '-i', 'mosq-sub', '-t', 'plant/#', '-q', '2', '-C', '4', '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let received = '';
  sub.stdout.on('data', (chunk: Buffer) => (received += chunk.toString()));
  const subExited = new Promise<number | null>((resolve, reject) => {
    sub.on('error', (err) => reject(new Error(`mosquitto_sub could not run (install the Debian package mosquitto-clients): ${err.message}`)));
    sub.on('close', resolve);
  });
  t.after(() => sub.kill());
  await waitFor(() => received.includes('plant/state running'), 'mosquitto_sub receiving the retained message');

  for (const qos of ['0', '1', '2']) {
    await run('mosquitto_pub', [...base, '-i', `mosq-pub-${qos}`, '-t', `plant/qos${qos}`, '-m', `reading at qos ${qos}`, '-q', qos]);
  }
  assert.equal(await subExited, 0);
  assert.deepEqual(received.trim().split('\n').sort(), ['plant/qos0 reading at qos 0', 'plant/qos1 reading at qos 1', 'plant/qos2 reading at qos 2', 'plant/state running']);

  const late = await run('mosquitto_sub', [...base, '-i', 'mosq-late', '-t', 'plant/state', '-C', '1', '-W', '10']);
  assert.equal(late.stdout.trim(), 'running', 'a retained message reaches a later subscriber');

  const stored = node.log.read('mqtt', 0, 0).records.map((r) => r.value!.toString());
  assert.deepEqual(stored, ['running', 'reading at qos 0', 'reading at qos 1', 'reading at qos 2']);
});
