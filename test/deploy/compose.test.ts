// docker-compose.yml, checked without a Docker engine: the services, their health checks, ports and
// volumes, and Tributary's settings through the real config loader with the environment compose
// gives the container.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { loadConfig } from '../../bridge/config/load.js';
import type { Config, ConfigInput } from '../../bridge/config/schema.js';
import { startTestNode } from '../helpers/mqtt-node.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../bridge/cli.js', import.meta.url));

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string | number>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[]; interval?: string; retries?: number };
  depends_on?: Record<string, { condition: string }>;
  command?: string[];
  restart?: string;
}

const compose = YAML.parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const { kafka, tributary, simulator } = compose.services;

/** Compose's ${NAME:-default} with nothing set in the shell: the default. */
const interpolate = (value: string | number): string => String(value).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

/** The config the tributary container runs with: its mounted file and its environment. */
function tributaryConfig(): Config {
  const env = Object.fromEntries(Object.entries(tributary!.environment ?? {}).map(([k, v]) => [k, interpolate(v)]));
  const configPath = env.TRIBUTARY_CONFIG;
  assert.ok(configPath !== undefined, 'TRIBUTARY_CONFIG names the mounted config');
  const mount = (tributary!.volumes ?? []).map((v) => v.split(':')).find(([, target]) => target === configPath);
  assert.ok(mount !== undefined, `a volume mounts ${configPath}`);
  const hostFile = join(ROOT, mount[0]!);
  assert.ok(existsSync(hostFile), `${mount[0]} exists`);
  delete env.TRIBUTARY_CONFIG;
  // The image's own ENV (deploy/Dockerfile) comes first; compose's environment overrides it.
  const imageEnv = Object.fromEntries([...readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8').matchAll(/\b(TRIBUTARY_[A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
  return loadConfig({ file: hostFile, env: { ...imageEnv, ...env } });
}

const containerPorts = (service: Service): number[] => (service.ports ?? []).map((p) => Number(p.split(':').at(-1)));

test('compose has Kafka, Tributary and the simulator', () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ['kafka', 'simulator', 'tributary']);
});

test('Kafka: the official image as a single KRaft node, with a health check', () => {
  assert.match(kafka!.image ?? '', /^apache\/kafka:\d+\.\d+\.\d+$/);
  const env = kafka!.environment ?? {};
  assert.deepEqual(String(env.KAFKA_PROCESS_ROLES).split(',').sort(), ['broker', 'controller']);
  assert.match(String(env.KAFKA_CONTROLLER_QUORUM_VOTERS), new RegExp(`^${env.KAFKA_NODE_ID}@kafka:\\d+$`));
  assert.match(String(env.KAFKA_ADVERTISED_LISTENERS), /PLAINTEXT:\/\/kafka:9092/);
  for (const key of ['KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR', 'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR']) {
    assert.equal(env[key], 1, `${key}: one node can only hold one replica (transactions need it)`);
  }
  const dataVolume = (kafka!.volumes ?? []).map((v) => String(v).split(':')[1]);
  assert.ok(dataVolume.includes(String(env.KAFKA_LOG_DIRS)), `KAFKA_LOG_DIRS (${env.KAFKA_LOG_DIRS}) must be the mounted volume (${dataVolume.join(', ')}), or the data is lost with the container`);
  assert.match(kafka!.healthcheck?.test.join(' ') ?? '', /kafka-broker-api-versions\.sh --bootstrap-server localhost:9092/);
});

test('Tributary: built from deploy/Dockerfile, its settings valid, its ports, volume and health check match them', () => {
  assert.ok(existsSync(join(ROOT, tributary!.build!.context, tributary!.build!.dockerfile)));
  assert.equal(tributary!.depends_on?.kafka?.condition, 'service_healthy');
  const config = tributaryConfig();
  assert.equal(config.http.host, '0.0.0.0', 'reachable through the published port');
  assert.ok(config.http.token !== null, 'so it carries a token');
  const published = containerPorts(tributary!).sort();
  const expected = [config.mqtt.port, config.http.port, ...(config.mqtt.websocket.enabled ? [config.mqtt.websocket.port] : [])].sort();
  assert.deepEqual(published, expected);
  assert.equal(config.mqtt.host, '0.0.0.0');
  const dataVolume = (tributary!.volumes ?? []).map((v) => v.split(':')).find(([, target]) => target === config.dataDir);
  assert.ok(dataVolume !== undefined, `the data directory ${config.dataDir} is a volume`);
  assert.ok(dataVolume[0]! in compose.volumes, 'a named volume, so the log outlives the container');
  // Upstream: the compose Kafka, at the listener it advertises to the other containers.
  assert.equal(config.upstream?.enabled, true);
  const advertised = String(kafka!.environment?.KAFKA_ADVERTISED_LISTENERS).split(',').map((l) => l.replace(/^[A-Z_]+:\/\//, ''));
  assert.ok(config.upstream!.brokers.length > 0 && config.upstream!.brokers.every((b) => advertised.includes(b)), `${config.upstream!.brokers} among ${advertised}`);
  const health = tributary!.healthcheck?.test.join(' ') ?? '';
  assert.match(health, new RegExp(`http://127\\.0\\.0\\.1:${config.http.port}/readyz`), 'probes readiness on the configured port');
});

test('the simulator publishes to Tributary once it is healthy, at the configured MQTT port', () => {
  assert.equal(simulator!.depends_on?.tributary?.condition, 'service_healthy');
  assert.equal(simulator!.image, tributary!.image, 'the image compose builds for tributary');
  const command = simulator!.command ?? [];
  assert.equal(command[0], 'sim');
  const url = new URL(command[command.indexOf('--url') + 1]!);
  assert.equal(url.hostname, 'tributary');
  assert.equal(Number(url.port), tributaryConfig().mqtt.port);
});

test("the simulator's command, run against a node on the compose config, fills its topic", async (t) => {
  const file = join(ROOT, 'deploy/compose/tributary.yaml');
  const settings = YAML.parse(readFileSync(file, 'utf8')) as ConfigInput;
  // Same topics and mapping; loopback and ephemeral ports instead of the container's, and no
  // upstream (the compose Kafka's host name only resolves inside compose).
  const { node, url } = await startTestNode(t, { ...settings, dataDir: undefined, http: { host: '127.0.0.1' }, upstream: { ...settings.upstream, enabled: false } });
  const args = [...simulator!.command!.slice(1)];
  args[args.indexOf('--url') + 1] = url;
  const ramp = args.indexOf('--ramp');
  if (ramp >= 0) args.splice(ramp, 2); // every device at once: the run is short
  const child = spawn(process.execPath, [CLI, 'sim', ...args, '--duration', '3s', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout) as { acked: number; devices?: number };
  assert.ok(summary.acked > 0);
  const [topic] = node.log.topics();
  assert.equal(topic?.name, settings.topics?.[0]?.name);
  const stored = topic!.partitions.reduce((sum, p) => sum + p.logEndOffset, 0);
  assert.equal(stored, summary.acked, 'every acknowledged message is in the compose topic');
  assert.ok(topic!.partitions.filter((p) => p.logEndOffset > 0).length > 1, 'keyed by device, spread over the partitions');
});
