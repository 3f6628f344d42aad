// A whole Tributary node in the test process, on ephemeral ports, with real listeners, plus small
// helpers for real MQTT.js clients.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import YAML from 'yaml';
import { loadConfig } from '../../bridge/config/load.js';
import type { ConfigInput } from '../../bridge/config/schema.js';
import { createLogger } from '../../bridge/logger.js';
import { startNode, type Node } from '../../bridge/main.js';
import { onCleanup } from './cleanup.js';
import { tempDir } from './temp-dir.js';

export interface TestNode {
  node: Node;
  dataDir: string;
  /** mqtt://127.0.0.1:port */
  url: string;
  /** ws://127.0.0.1:port/mqtt */
  wsUrl: string;
  close(): Promise<void>;
}

/** Starts a node with `settings` (a config file's content) layered over ephemeral ports: the ports a file names (1883, 8083, 8080) are never bound, so tests can run beside a real node. */
export async function startTestNode(t: TestContext, settings: ConfigInput = {}, dataDir = tempDir(t)): Promise<TestNode> {
  const file = join(tempDir(t), 'tributary.yaml');
  const mqttSettings = settings.mqtt ?? {};
  writeFileSync(
    file,
    YAML.stringify({
      ...settings,
      mqtt: { host: '127.0.0.1', ...mqttSettings, websocket: { ...mqttSettings.websocket, port: 0 } },
      log: { retentionSchedule: '0 0 1 1 *', ...settings.log },
    }),
  );
  const config = loadConfig({ file, env: {}, flags: { dataDir, mqttPort: 0, httpPort: 0 } });
  const node = await startNode(config, createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'));
  onCleanup(t, () => node.close()); // before its data dir is removed
  const { tcp, websocket } = node.mqtt.ports;
  return {
    node,
    dataDir,
    url: `mqtt://127.0.0.1:${tcp}`,
    wsUrl: `ws://127.0.0.1:${websocket}/mqtt`,
    close: () => node.close(),
  };
}

/**
 * A connected MQTT.js client that ends with the test. Never reconnects on its own. The CONNACK is
 * waited for 30 s (MQTT.js's connectTimeout): a loaded machine answers late; a test that needs a
 * node's silence passes its own, shorter connectTimeout. `onMessage` is
 * attached before connecting: a session's queued messages can arrive with the CONNACK.
 */
export async function connect(t: TestContext, url: string, options: IClientOptions = {}, onMessage?: (topic: string, payload: Buffer) => void): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 30_000, ...options });
  if (onMessage !== undefined) client.on('message', onMessage);
  onCleanup(t, () => client.endAsync(true));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
  return client;
}

/** Resolves with the reason an MQTT.js connection attempt fails (CONNACK code or close). */
export function connectionRefusal(url: string, options: IClientOptions = {}): Promise<string> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 30_000, ...options });
  return new Promise((resolve) => {
    client.once('connect', () => {
      client.end(true);
      resolve('connected');
    });
    client.once('error', (err: Error & { code?: number }) => {
      client.end(true);
      resolve(err.code === undefined ? err.message : `connack ${err.code}`);
    });
    client.once('close', () => resolve('closed'));
  });
}
