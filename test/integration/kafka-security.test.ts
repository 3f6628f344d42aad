// The Kafka endpoint's TLS, SASL and ACLs with real clients: kcat (librdkafka) over TLS and with
// SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 against users made by `tributary passwd`, a wrong
// password and a user without a read grant refused; the Java client (Kafka's ConsoleConsumer)
// over TLS and with SCRAM. Records are published over MQTT, as in kafka-clients.test.ts.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import YAML from 'yaml';
import type { ConfigInput } from '../../bridge/config/schema.js';
import { connect, startTestNode } from '../helpers/mqtt-node.js';
import { kafkaToolsClasspath, runKafkaTool } from '../helpers/kafka.js';
import { makePki } from '../helpers/pki.js';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../bridge/cli.js', import.meta.url));

/** A user entry for mqtt.auth.users as `tributary passwd --username` prints it (hash and SCRAM credentials). */
function passwd(username: string, password: string): NonNullable<NonNullable<ConfigInput['mqtt']>['auth']>['users'] {
  const out = spawnSync(process.execPath, [CLI, 'passwd', '--username', username], { input: `${password}\n`, encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return YAML.parse(out.stdout) as NonNullable<NonNullable<ConfigInput['mqtt']>['auth']>['users'];
}

const USERS = [...passwd('reader', 'reader-secret')!, ...passwd('stranger', 'stranger-secret')!, ...passwd('device', 'device-secret')!];

/** A node with users, the Kafka endpoint with `kafka` settings, and three records published over MQTT by an authenticated device. */
async function secureNode(t: TestContext, kafka: ConfigInput['kafka'] = {}): Promise<{ port: number }> {
  const { node, url } = await startTestNode(t, {
    mqtt: { auth: { users: USERS } },
    kafka: { enabled: true, port: 0, acl: [{ user: 'reader', read: ['mqtt'] }], ...kafka },
  });
  const client = await connect(t, url, { clientId: 'security-test', username: 'device', password: 'device-secret' });
  for (let i = 0; i < 3; i++) await client.publishAsync(`sensors/line-${i}`, `reading ${i}`, { qos: 1 });
  return { port: node.kafka!.port };
}

interface Outcome {
  code: number;
  lines: string[];
  stderr: string;
}

async function kcat(port: number, ...args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run('kcat', ['-b', `127.0.0.1:${port}`, ...args], { timeout: 60_000 });
    return { code: 0, lines: stdout.split('\n').filter((l) => l !== ''), stderr };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string; code?: number | string };
    if (e.code === 'ENOENT') assert.fail('kcat is not installed (Debian package kcat)');
    return { code: typeof e.code === 'number' ? e.code : -1, lines: (e.stdout ?? '').split('\n').filter((l) => l !== ''), stderr: e.stderr ?? '' };
  }
}

const sasl = (mechanism: string, username: string, password: string): string[] => [
  '-X', 'security.protocol=sasl_plaintext', '-X', `sasl.mechanisms=${mechanism}`, '-X', `sasl.username=${username}`, '-X', `sasl.password=${password}`,
];
const readAll = ['-C', '-t', 'mqtt', '-e', '-o', 'beginning', '-f', '%o %k %s\n'];
const EXPECTED = ['0 sensors/line-0 reading 0', '1 sensors/line-1 reading 1', '2 sensors/line-2 reading 2'];

test('kcat authenticates with SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 as a user of mqtt.auth.users and reads the log', async (t) => {
  const { port } = await secureNode(t);
  for (const mechanism of ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']) {
    const out = await kcat(port, ...sasl(mechanism, 'reader', 'reader-secret'), ...readAll);
    assert.equal(out.code, 0, `${mechanism}: ${out.stderr}`);
    assert.deepEqual(out.lines, EXPECTED, mechanism);
  }
});

test('kcat with a wrong password, or without SASL, is refused and reads nothing', async (t) => {
  const { port } = await secureNode(t);
  for (const mechanism of ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']) {
    const out = await kcat(port, ...sasl(mechanism, 'reader', 'not-the-password'), ...readAll, '-m', '10');
    assert.notEqual(out.code, 0, mechanism);
    assert.deepEqual(out.lines, [], mechanism);
    assert.match(out.stderr, /Authentication failed/i, mechanism);
  }
  const plain = await kcat(port, ...readAll, '-m', '10');
  assert.notEqual(plain.code, 0);
  assert.deepEqual(plain.lines, []);
});

test('kcat as a user that kafka.acl does not let read the topic gets TOPIC_AUTHORIZATION_FAILED', async (t) => {
  const { port } = await secureNode(t);
  const out = await kcat(port, ...sasl('SCRAM-SHA-256', 'stranger', 'stranger-secret'), ...readAll, '-m', '10');
  assert.notEqual(out.code, 0);
  assert.deepEqual(out.lines, []);
  assert.match(out.stderr, /Topic authorization failed/i);
  // Listing: the topic is hidden from this user, as Kafka's broker hides it.
  const listed = await kcat(port, ...sasl('SCRAM-SHA-256', 'stranger', 'stranger-secret'), '-L', '-J');
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual((JSON.parse(listed.lines.join('')) as { topics: unknown[] }).topics, []);
});

test('kcat reads over TLS (kafka.tls), and with a client certificate when one is required', async (t) => {
  const pki = makePki(t);
  const { port } = await secureNode(t, { tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, clientCertificates: 'require' }, sasl: { required: false }, acl: null });
  const tls = ['-X', 'security.protocol=ssl', '-X', `ssl.ca.location=${pki.ca}`];
  const withCert = await kcat(port, ...tls, '-X', `ssl.certificate.location=${pki.clientCert}`, '-X', `ssl.key.location=${pki.clientKey}`, ...readAll);
  assert.equal(withCert.code, 0, withCert.stderr);
  assert.deepEqual(withCert.lines, EXPECTED);
  const withoutCert = await kcat(port, ...tls, ...readAll, '-m', '10');
  assert.notEqual(withoutCert.code, 0);
  assert.deepEqual(withoutCert.lines, []);
});

test('kcat reads over TLS with SASL SCRAM-SHA-512 (SASL_SSL)', async (t) => {
  const pki = makePki(t);
  const { port } = await secureNode(t, { tls: { cert: pki.serverCert, key: pki.serverKey } });
  const out = await kcat(port, '-X', 'security.protocol=sasl_ssl', '-X', `ssl.ca.location=${pki.ca}`, '-X', 'sasl.mechanisms=SCRAM-SHA-512', '-X', 'sasl.username=reader', '-X', 'sasl.password=reader-secret', ...readAll);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(out.lines, EXPECTED);
});


test("the Java client (Kafka's ConsoleConsumer) reads over TLS, and over SASL_SSL with SCRAM-SHA-256", async (t) => {
  const classpath = await kafkaToolsClasspath();
  const pki = makePki(t);
  // Authentication optional here, so that one node serves both: TLS alone, and SCRAM over TLS.
  const { port } = await secureNode(t, { tls: { cert: pki.serverCert, key: pki.serverKey }, sasl: { required: false }, acl: null });
  const consume = (...properties: string[]): Promise<string[]> =>
    runKafkaTool(classpath, 'org.apache.kafka.tools.consumer.ConsoleConsumer', '--bootstrap-server', `127.0.0.1:${port}`, '--topic', 'mqtt', '--partition', '0', '--offset', 'earliest', '--max-messages', '3',
      '--property', 'print.key=true', ...properties.flatMap((p) => ['--consumer-property', p]));
  // A PEM trust store (Kafka 2.7+, KIP-651): the test CA as it is.
  const trust = ['ssl.truststore.type=PEM', `ssl.truststore.location=${pki.ca}`];
  const scram = [
    'security.protocol=SASL_SSL', ...trust, 'sasl.mechanism=SCRAM-SHA-256',
    'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="reader" password="reader-secret";',
  ];
  const expected = ['sensors/line-0\treading 0', 'sensors/line-1\treading 1', 'sensors/line-2\treading 2'];
  assert.deepEqual(await consume('security.protocol=SSL', ...trust), expected);
  assert.deepEqual(await consume(...scram), expected);
});

test('kafka.acl governs produce: a user allowed to write stores a record, one allowed only to read is refused and stores nothing', async (t) => {
  const { node } = await startTestNode(t, {
    mqtt: { auth: { users: USERS } },
    kafka: { enabled: true, port: 0, acl: [{ user: 'reader', read: ['mqtt'] }, { user: 'device', write: ['mqtt'] }] },
  });
  const port = node.kafka!.port;
  const produce = async (user: string, password: string, value: string): Promise<Outcome> => {
    const child = execFile('kcat', ['-b', `127.0.0.1:${port}`, ...sasl('SCRAM-SHA-256', user, password), '-P', '-t', 'mqtt', '-X', 'message.timeout.ms=5000']);
    child.stdin!.end(`${value}\n`);
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number>((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
    return { code, lines: [], stderr };
  };
  const refused = await produce('reader', 'reader-secret', 'from the reader');
  assert.match(refused.stderr, /authorization failed/i, refused.stderr);
  assert.equal(node.log.partition('mqtt', 0).logEndOffset, 0, 'nothing stored for a user without the write grant');
  const allowed = await produce('device', 'device-secret', 'from the device');
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(node.log.read('mqtt', 0, 0).records.map((r) => r.value!.toString()).join(), 'from the device');
});
