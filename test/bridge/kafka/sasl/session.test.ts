// SASL and ACLs at the byte level, on a real socket against a real log: what a client that does
// not follow the rules gets (a request before authentication, a wrong password), the older
// handshake (v0, bare tokens), and TOPIC_AUTHORIZATION_FAILED per partition in Fetch and
// ListOffsets and per topic in Metadata (kcat stops at Metadata; these go past it).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Log } from '../../../../broker/log/log.js';
import { KafkaAuthorizer } from '../../../../bridge/kafka/authorization.js';
import { Reader } from '../../../../bridge/kafka/protocol/reader.js';
import { Writer } from '../../../../bridge/kafka/protocol/writer.js';
import { KafkaUsers } from '../../../../bridge/kafka/sasl/users.js';
import { KafkaServer } from '../../../../bridge/kafka/server.js';
import { createLogger } from '../../../../bridge/logger.js';
import { hashPassword } from '../../../../bridge/shared/passwords.js';
import { onCleanup } from '../../../helpers/cleanup.js';
import { frame, RawKafka } from '../../../helpers/raw-kafka.js';
import { tempDir } from '../../../helpers/temp-dir.js';

type Line = Record<string, unknown>;
const body = (w: Writer): Buffer => Buffer.concat(w.chunks());

async function startServer(t: TestContext): Promise<{ port: number; lines: Line[] }> {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'mqtt', partitions: 1 }, { name: 'secret', partitions: 1 }] });
  onCleanup(t, () => log.close());
  const lines: Line[] = [];
  const logger = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  const users = KafkaUsers.fromConfig([
    { username: 'reader', password: await hashPassword('reader-secret') },
    { username: 'ab', password: await hashPassword('cd') },
  ]);
  const security = { users, mechanisms: ['PLAIN', 'SCRAM-SHA-256'] as const, required: true, authorizer: KafkaAuthorizer.fromConfig([{ user: 'reader', read: ['mqtt'], write: [] }]) };
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections: 100, clusterId: 'test', log, logger, security: { ...security, mechanisms: [...security.mechanisms] } });
  onCleanup(t, () => server.close());
  return { port: server.port, lines };
}

const METADATA_ALL_V1 = body(new Writer().int32(-1));
const metadataV1 = (...topics: string[]): Buffer => body(new Writer().array(topics, false, (w, name) => w.string(name, false)));

function readMetadataV1(response: Buffer): Array<{ error: number; name: string }> {
  const r = new Reader(response);
  r.int32(); // correlation id
  r.array(false, (r) => [r.int32(), r.string(false), r.int32(), r.nullableString(false)]);
  r.int32(); // controller
  return r.array(false, (r) => {
    const topic = { error: r.int16(), name: r.string(false) };
    r.bool();
    r.array(false, (r) => [r.int16(), r.int32(), r.int32(), r.array(false, (r) => r.int32()), r.array(false, (r) => r.int32())]);
    return topic;
  });
}

/** SaslHandshake v1 then SaslAuthenticate v2 with one PLAIN token; the SaslAuthenticate error code and message. */
async function plainV1(kafka: RawKafka, user: string, password: string): Promise<{ error: number; message: string | null }> {
  kafka.send(17, 1, body(new Writer().string('PLAIN', false)));
  const handshake = new Reader((await kafka.response())!);
  handshake.int32();
  assert.equal(handshake.int16(), 0);
  assert.deepEqual(handshake.array(false, (r) => r.string(false)), ['PLAIN', 'SCRAM-SHA-256']);
  const token = Buffer.from(`\u0000${user}\u0000${password}`);
  kafka.send(36, 2, body(new Writer().uvarint(token.length + 1).bytes(token).taggedFields()), true);
  const r = new Reader((await kafka.response())!);
  r.int32();
  r.taggedFields();
  return { error: r.int16(), message: r.nullableString(true) };
}

test('while authentication is required, ApiVersions is served but any other request before SASL closes the connection, with a warning naming it', async (t) => {
  const { port, lines } = await startServer(t);
  const kafka = await RawKafka.open(t, port);
  kafka.send(18, 0, Buffer.alloc(0));
  assert.notEqual(await kafka.response(), null);
  kafka.send(3, 1, METADATA_ALL_V1);
  assert.equal(await kafka.response(), null, 'no answer: closed');
  await kafka.closed;
  assert.ok(lines.some((l) => l.code === 'TRIB_KAFKA_UNAUTHENTICATED_REQUEST' && l.apiKey === 3 && l.clientId === 'raw-test'));
});

test('a wrong password gets SASL_AUTHENTICATION_FAILED and a closed connection; the log names the user, never the password', async (t) => {
  const { port, lines } = await startServer(t);
  const kafka = await RawKafka.open(t, port);
  assert.deepEqual(await plainV1(kafka, 'reader', 'not-the-password'), { error: 58, message: 'Authentication failed: Invalid username or password' });
  await kafka.closed;
  const failure = lines.find((l) => l.code === 'TRIB_KAFKA_AUTHENTICATION_FAILED');
  assert.ok(failure !== undefined);
  assert.equal(failure.user, 'reader');
  assert.equal(failure.mechanism, 'PLAIN');
  assert.ok(!lines.some((l) => JSON.stringify(l).includes('not-the-password')), 'the password is in no log line');

  const right = await RawKafka.open(t, port);
  assert.deepEqual(await plainV1(right, 'reader', 'reader-secret'), { error: 0, message: null });
  right.send(3, 1, METADATA_ALL_V1);
  assert.deepEqual(readMetadataV1((await right.response())!), [{ error: 0, name: 'mqtt' }], "'secret' is not listed: reader may not read it");
});

test('SaslHandshake v0: the token follows as a bare frame (even one shorter than a request header) and is answered the same way', async (t) => {
  const { port } = await startServer(t);
  const kafka = await RawKafka.open(t, port);
  kafka.send(17, 0, body(new Writer().string('PLAIN', false)));
  const handshake = new Reader((await kafka.response())!);
  handshake.int32();
  assert.equal(handshake.int16(), 0);
  kafka.sendRaw(frame(Buffer.from('\u0000ab\u0000cd'))); // 6 bytes
  assert.deepEqual(await kafka.response(), Buffer.alloc(0), 'PLAIN: an empty token back');
  kafka.send(3, 1, METADATA_ALL_V1);
  assert.deepEqual(readMetadataV1((await kafka.response())!), [], 'authenticated as ab, who is granted nothing');
});

test('kafka.acl: a topic not granted is TOPIC_AUTHORIZATION_FAILED in Metadata, ListOffsets and Fetch, the granted one is served', async (t) => {
  const { port } = await startServer(t);
  const kafka = await RawKafka.open(t, port);
  assert.equal((await plainV1(kafka, 'reader', 'reader-secret')).error, 0);

  kafka.send(3, 1, metadataV1('mqtt', 'secret', 'no-such-topic'));
  assert.deepEqual(readMetadataV1((await kafka.response())!), [{ error: 0, name: 'mqtt' }, { error: 29, name: 'secret' }, { error: 29, name: 'no-such-topic' }]);

  // ListOffsets v1: replica_id [topic [partition timestamp]] → [topic [partition error timestamp offset]]
  kafka.send(2, 1, body(new Writer().int32(-1).array(['mqtt', 'secret'], false, (w, name) => w.string(name, false).array([0], false, (w, p) => w.int32(p).int64(-1)))));
  const offsets = new Reader((await kafka.response())!);
  offsets.int32();
  const listed = offsets.array(false, (r) => [r.string(false), r.array(false, (r) => [r.int32(), r.int16(), r.int64(), r.int64()])[0]![1]]);
  assert.deepEqual(listed, [['mqtt', 0], ['secret', 29]]);

  // Fetch v4: replica max_wait min_bytes max_bytes isolation [topic [partition offset max_bytes]]
  const fetch = new Writer().int32(-1).int32(0).int32(0).int32(1 << 20).int8(0);
  kafka.send(1, 4, body(fetch.array(['mqtt', 'secret'], false, (w, name) => w.string(name, false).array([0], false, (w, p) => w.int32(p).int64(0).int32(1 << 20)))));
  const fetched = new Reader((await kafka.response())!);
  fetched.int32();
  fetched.int32(); // throttle
  const errors = fetched.array(false, (r) => {
    const name = r.string(false);
    const [error] = r.array(false, (r) => {
      r.int32();
      const error = r.int16();
      r.int64();
      r.int64();
      r.nullableArray(false, (r) => [r.int64(), r.int64()]);
      r.nullableBytes(false);
      return error;
    });
    return [name, error];
  });
  assert.deepEqual(errors, [['mqtt', 0], ['secret', 29]]);
});

test('kafka.acl: group offsets of a topic not granted are neither committed nor fetched (TOPIC_AUTHORIZATION_FAILED)', async (t) => {
  const { port } = await startServer(t);
  const kafka = await RawKafka.open(t, port);
  assert.equal((await plainV1(kafka, 'reader', 'reader-secret')).error, 0);

  // OffsetCommit v2 outside any generation: group generation member retention [topic [partition offset metadata]]
  const commit = new Writer().string('g', false).int32(-1).string('', false).int64(-1);
  kafka.send(8, 2, body(commit.array(['mqtt', 'secret'], false, (w, name) => w.string(name, false).array([0], false, (w, p) => w.int32(p).int64(1).string('', false)))));
  const committed = new Reader((await kafka.response())!);
  committed.int32();
  assert.deepEqual(committed.array(false, (r) => [r.string(false), r.array(false, (r) => (r.int32(), r.int16()))[0]]), [['mqtt', 0], ['secret', 29]]);

  // OffsetFetch v1: the granted topic's offset; the other TOPIC_AUTHORIZATION_FAILED, offset -1.
  kafka.send(9, 1, body(new Writer().string('g', false).array(['mqtt', 'secret'], false, (w, name) => w.string(name, false).array([0], false, (w, p) => w.int32(p)))));
  const fetched = new Reader((await kafka.response())!);
  fetched.int32();
  const answers = fetched.array(false, (r) => {
    const name = r.string(false);
    const [answer] = r.array(false, (r) => {
      r.int32();
      const offset = r.int64();
      r.nullableString(false);
      return [offset, r.int16()];
    });
    return [name, ...answer!];
  });
  assert.deepEqual(answers, [['mqtt', 1, 0], ['secret', -1, 29]]);
});
