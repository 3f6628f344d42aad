import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigInvalidError } from '../../../bridge/config/errors.js';
import { defaultConfig, loadConfig } from '../../../bridge/config/load.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('no config at all gives the embedded defaults of the contract', () => {
  const c = defaultConfig();
  assert.equal(c.dataDir, './data');
  assert.equal(c.mqtt.port, 1883);
  assert.equal(c.mqtt.websocket.port, 8083);
  assert.equal(c.mqtt.websocket.path, '/mqtt');
  assert.equal(c.http.host, '127.0.0.1');
  assert.equal(c.http.port, 8080);
  assert.equal(c.log.durability, 'fsync');
  assert.deepEqual(c.topics, [{ name: 'mqtt', partitions: 1 }]);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.mqtt.websocket) && Object.isFrozen(c.topics[0]));
});

test('file < environment < flags, with units', (t) => {
  const file = join(tempDir(t), 'tributary.yaml');
  writeFileSync(
    file,
    `dataDir: /var/lib/tributary
log:
  durability: interval
  fsyncInterval: 250ms
  retention: { maxAge: 3d, maxBytes: 2GiB }
topics:
  - { name: telemetry, partitions: 4, retention: { maxBytes: 10MB } }
http: { port: 9000 }
`,
  );
  const c = loadConfig({
    file,
    env: { TRIBUTARY_HTTP_PORT: '9100', TRIBUTARY_LOG_RETENTION_MAX_AGE: '12h', LOG_LEVEL: 'debug', TRIBUTARY_MQTT_WEBSOCKET_ENABLED: 'false' },
    flags: { httpPort: 9200, dataDir: '/data' },
  });
  assert.equal(c.dataDir, '/data');
  assert.equal(c.http.port, 9200);
  assert.equal(c.log.durability, 'interval');
  assert.equal(c.log.fsyncInterval, 250);
  assert.equal(c.log.retention.maxAge, 12 * 3_600_000);
  assert.equal(c.log.retention.maxBytes, 2 * 1024 ** 3);
  assert.deepEqual(c.topics, [{ name: 'telemetry', partitions: 4, retention: { maxBytes: 10_000_000 } }]);
  assert.equal(c.logging.level, 'debug');
  assert.equal(c.mqtt.websocket.enabled, false);
});

test('unknown keys and wrong types are all reported at once, each naming its key', (t) => {
  const file = join(tempDir(t), 'bad.yaml');
  writeFileSync(file, `dataDir: 42\nmqtt:\n  prot: 1883\n  port: "x"\nlog:\n  durability: sometimes\n  retention: { maxAge: soon }\ntopics:\n  - { name: a }\n  - { name: a, partitions: 0 }\nextra: true\n`);
  let error: ConfigInvalidError | undefined;
  try {
    loadConfig({ file, env: { TRIBUTARY_NOPE: '1' } });
  } catch (err) {
    error = err as ConfigInvalidError;
  }
  assert.ok(error instanceof ConfigInvalidError);
  assert.equal(error.code, 'TRIB_CONFIG_INVALID');
  const keys = error.problems.map((p) => p.key).sort();
  assert.deepEqual(keys, [
    'TRIBUTARY_NOPE',
    'dataDir',
    'extra',
    'log.durability',
    'log.retention.maxAge',
    'mqtt.port',
    'mqtt.prot',
    'topics[1].name',
    'topics[1].partitions',
  ]);
  assert.match(error.message, /mqtt\.prot: unknown key/);
  assert.match(error.message, /log\.retention\.maxAge: 'soon' is not a duration/);
  assert.match(error.message, /topics\[1\]\.name: topic 'a' is listed twice/);
});

test('a missing or unreadable config file names the file', (t) => {
  const dir = tempDir(t);
  assert.throws(() => loadConfig({ file: join(dir, 'none.yaml'), env: {} }), { code: 'TRIB_CONFIG_FILE', message: /none\.yaml: no such file/ });
  const list = join(dir, 'list.yaml');
  writeFileSync(list, '- a\n- b\n');
  assert.throws(() => loadConfig({ file: list, env: {} }), { code: 'TRIB_CONFIG_FILE', message: /top level must be a mapping/ });
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'a: [1, 2\n');
  assert.throws(() => loadConfig({ file: broken, env: {} }), { code: 'TRIB_CONFIG_FILE', message: /not valid YAML/ });
  const dup = join(dir, 'dup.yaml');
  writeFileSync(dup, 'dataDir: a\ndataDir: b\n');
  assert.throws(() => loadConfig({ file: dup, env: {} }), { code: 'TRIB_CONFIG_FILE' });
});

test('TRIBUTARY_CONFIG names the file when --config is absent', (t) => {
  const file = join(tempDir(t), 'env.yaml');
  writeFileSync(file, 'http: { port: 8181 }\n');
  assert.equal(loadConfig({ env: { TRIBUTARY_CONFIG: file } }).http.port, 8181);
});

test('the example config in deploy/ is valid and spells out the defaults', () => {
  const file = fileURLToPath(new URL('../../../../deploy/tributary.example.yaml', import.meta.url));
  const example = loadConfig({ file, env: {} });
  const defaults = loadConfig({ env: {} });
  assert.deepEqual({ ...example, node: defaults.node }, defaults);
});

test('a key that is empty or has spaces or dots is named quoted, so the problem still points at it', (t) => {
  const file = join(tempDir(t), 'odd-keys.yaml');
  writeFileSync(file, '"": 1\nmqtt:\n  "port ": 1\n  "a.b": 2\n');
  let error: ConfigInvalidError | undefined;
  try {
    loadConfig({ file, env: {} });
  } catch (err) {
    error = err as ConfigInvalidError;
  }
  assert.ok(error instanceof ConfigInvalidError);
  assert.deepEqual(error.problems.map((p) => p.key).sort(), ['[""]', 'mqtt["a.b"]', 'mqtt["port "]']);
  assert.match(error.message, /- \[""\]: unknown key/);
});

test('a __proto__ key in the file is an unknown key like any other, not a silently ignored prototype', (t) => {
  const file = join(tempDir(t), 'proto.yaml');
  writeFileSync(file, '__proto__: { dataDir: elsewhere }\nconstructor: 1\n');
  assert.throws(() => loadConfig({ file, env: {} }), (err: unknown) => {
    assert.ok(err instanceof ConfigInvalidError);
    assert.deepEqual(err.problems.map((p) => p.key).sort(), ['__proto__', 'constructor']);
    return true;
  });
  assert.equal(({} as { dataDir?: string }).dataDir, undefined);
});

test('a YAML warning (an unknown tag or directive) refuses the file instead of loading it with the tag ignored; nothing is printed', async (t) => {
  const dir = tempDir(t);
  const warnings: string[] = [];
  const onWarning = (w: Error): number => warnings.push(w.message);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  for (const [name, text] of [['tag.yaml', 'dataDir: !!bogus ./data\n'], ['directive.yaml', '%FOO bar\n---\ndataDir: ./data\n']] as const) {
    const file = join(dir, name);
    writeFileSync(file, text);
    assert.throws(() => loadConfig({ file, env: {} }), { code: 'TRIB_CONFIG_FILE', message: /not valid YAML: .*(tag|directive).* at line 1/s }, name);
  }
  // An environment value that YAML would warn about is taken as text.
  assert.equal(loadConfig({ env: { TRIBUTARY_NODE_ID: '%odd' } }).node.id, '%odd');
  assert.equal(loadConfig({ env: { TRIBUTARY_NODE_ID: '!tag gw-1' } }).node.id, '!tag gw-1');
  const collectionKey = join(dir, 'collection-key.yaml');
  writeFileSync(collectionKey, '? [a, b]\n: 1\n');
  assert.throws(() => loadConfig({ file: collectionKey, env: {} }), { code: 'TRIB_CONFIG_INVALID', message: /\["\[ a, b \]"\]: unknown key/ });
  await new Promise((resolve) => setImmediate(resolve)); // process warnings are emitted on the next tick
  assert.deepEqual(warnings, [], 'nothing printed as a process warning');
});

test('kafka: off by default on 127.0.0.1:9092; set from the file and TRIBUTARY_KAFKA_*; unknown keys and bad values named', (t) => {
  const secure = { tls: null, sasl: { mechanisms: ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'], required: null }, acl: null };
  assert.deepEqual({ ...defaultConfig().kafka }, { enabled: false, host: '127.0.0.1', port: 9092, advertisedHost: null, advertisedPort: null, maxRequestSize: 16 * 1024 * 1024, maxConnections: 1000, maxMessageBytes: 1_048_588, maxUncompressedBytes: 32 * 1024 * 1024, ...secure });
  const file = join(tempDir(t), 'tributary.yaml');
  writeFileSync(file, 'kafka: { enabled: true, host: 0.0.0.0, advertisedHost: gateway-7.local, maxRequestSize: 1MiB, maxMessageBytes: 512KiB }\n');
  const c = loadConfig({ file, env: { TRIBUTARY_KAFKA_PORT: '19092', TRIBUTARY_KAFKA_ADVERTISED_PORT: '29092' } });
  assert.deepEqual({ ...c.kafka }, { enabled: true, host: '0.0.0.0', port: 19092, advertisedHost: 'gateway-7.local', advertisedPort: 29092, maxRequestSize: 1024 * 1024, maxConnections: 1000, maxMessageBytes: 512 * 1024, maxUncompressedBytes: 32 * 1024 * 1024, ...secure });
  writeFileSync(file, 'kafka: { enabled: true, tls: { cert: a.pem, port: 9093 }, maxRequestSize: 10, sasl: { mechanisms: [GSSAPI] }, acl: [{ user: ops, read: ["telemetry.*"], reed: [] }, { write: ["a/b"] }] }\n');
  assert.throws(() => loadConfig({ file, env: {} }), (err: unknown) => {
    assert.ok(err instanceof ConfigInvalidError);
    assert.match(err.message, /kafka\.tls\.key: /);
    assert.match(err.message, /kafka\.tls\.port: unknown key/);
    assert.match(err.message, /kafka\.maxRequestSize: at least 1KiB/);
    assert.match(err.message, /kafka\.sasl\.mechanisms\[0\]: /);
    assert.match(err.message, /kafka\.acl\[0\]\.reed: unknown key/);
    assert.match(err.message, /kafka\.acl\[1\]\.write\[0\]: a topic name/);
    assert.doesNotMatch(err.message, /acl\[0\]\.read/);
    return true;
  });
});
