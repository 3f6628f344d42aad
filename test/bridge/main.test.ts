// The composition root's part in the Kafka endpoint: off by default; with kafka.enabled it starts
// with the node, says where it listens, and stops with it (its connections closed, its port free).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { loadConfig } from '../../bridge/config/load.js';
import { createLogger } from '../../bridge/logger.js';
import { startNode } from '../../bridge/main.js';
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
