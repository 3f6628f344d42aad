// The composition root's part in the Kafka endpoint: off by default; with kafka.enabled it starts
// with the node, says where it listens, and stops with it (its connections closed, its port free).
// Its modules are loaded only when it is enabled (they bring the codecs' native add-ons).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { test } from 'node:test';
import { loadConfig } from '../../bridge/config/load.js';
import { createLogger } from '../../bridge/logger.js';
import { startNode } from '../../bridge/main.js';
import { freePort, startCliNode } from '../helpers/cli.js';
import { onCleanup } from '../helpers/cleanup.js';
import { RawKafka } from '../helpers/raw-kafka.js';
import { startTestNode } from '../helpers/mqtt-node.js';
import { tempDir } from '../helpers/temp-dir.js';

test('the Kafka endpoint is off by default', async (t) => {
  const { node } = await startTestNode(t);
  assert.equal(node.kafka, null);
});

test('kafka.enabled starts the endpoint with the node, logs its address, and node.close() stops it', async (t) => {
  const dataDir = tempDir(t);
  const config = loadConfig({ env: { TRIBUTARY_KAFKA_ENABLED: 'true', TRIBUTARY_KAFKA_PORT: '0', TRIBUTARY_MQTT_HOST: '127.0.0.1' }, flags: { dataDir, mqttPort: 0, wsPort: 0, httpPort: 0 } });
  const lines: Array<Record<string, unknown>> = [];
  const node = await startNode(config, createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }));
  onCleanup(t, () => node.close());
  assert.ok(node.kafka !== null);
  const port = node.kafka.port;
  assert.ok(lines.some((l) => l.msg === 'Kafka listening' && l.address === `127.0.0.1:${port}`));

  const open = await RawKafka.open(t, port);
  await node.close();
  await open.closed;
  const refused = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve('connected'));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  assert.equal(refused, 'ECONNREFUSED');
});

/** The Kafka codecs' native add-ons (snappy, lz4) mapped into process `pid` (Linux's /proc/PID/maps). */
function codecAddOns(pid: number): string[] {
  const mapped = readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .map((line) => line.split('/').at(-1)!)
    .filter((file) => file.endsWith('.node'));
  return [...new Set(mapped.filter((file) => file.startsWith('snappy') || file.startsWith('lz4')))].sort();
}

test('a node without the Kafka endpoint does not load it: no codec add-on in its memory', async (t) => {
  const node = await startCliNode(t, tempDir(t));
  assert.deepEqual(codecAddOns(node.child.pid!), []);
  await node.stop();
});

test('with kafka.enabled the endpoint is loaded at start and answers a Kafka client', async (t) => {
  const kafkaPort = await freePort();
  const node = await startCliNode(t, tempDir(t), 0, { TRIBUTARY_KAFKA_ENABLED: 'true', TRIBUTARY_KAFKA_PORT: String(kafkaPort) });
  assert.deepEqual(
    codecAddOns(node.child.pid!).map((file) => file.split('.')[0]),
    ['lz4-napi', 'snappy'],
  );
  const kafka = await RawKafka.open(t, kafkaPort);
  const id = kafka.send(18, 0, Buffer.alloc(0)); // ApiVersions v0: an empty body
  const answer = await kafka.response();
  assert.ok(answer !== null);
  assert.equal(answer.readInt32BE(0), id);
  assert.equal(answer.readInt16BE(4), 0); // error_code NONE
  await node.stop();
});
