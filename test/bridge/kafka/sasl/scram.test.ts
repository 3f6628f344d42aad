// The SCRAM server against RFC 7677's worked example (SCRAM-SHA-256, user "user", password
// "pencil"), and what it refuses: a wrong proof, an unknown user (at the proof, with a salt that
// stays the same for the name), channel binding. And librdkafka's form of the client-final nonce.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScramServer } from '../../../../bridge/kafka/sasl/scram.js';
import { KafkaUsers } from '../../../../bridge/kafka/sasl/users.js';
import { hashPassword } from '../../../../bridge/shared/passwords.js';
import { formatScramCredential, makeScramCredential } from '../../../../bridge/shared/scram-credentials.js';

// RFC 7677 section 3.
const SALT = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
const CLIENT_FIRST = 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO';
const SERVER_NONCE = '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
const SERVER_FIRST = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
const CLIENT_FINAL = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
const SERVER_FINAL = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

async function users(): Promise<KafkaUsers> {
  const scram = [formatScramCredential(await makeScramCredential('SCRAM-SHA-256', 'pencil', 4096, SALT))];
  return KafkaUsers.fromConfig([{ username: 'user', password: await hashPassword('pencil'), scram }]);
}

const text = (step: { kind: string; bytes?: Buffer }): string => step.bytes?.toString('utf8') ?? '';

test("RFC 7677's SCRAM-SHA-256 exchange: the server's first and final messages, byte for byte", async () => {
  const server = new ScramServer('SCRAM-SHA-256', await users(), () => SERVER_NONCE);
  const first = await server.step(Buffer.from(CLIENT_FIRST));
  assert.deepEqual([first.kind, text(first)], ['challenge', SERVER_FIRST]);
  const final = await server.step(Buffer.from(CLIENT_FINAL));
  assert.deepEqual(final, { kind: 'done', user: 'user', bytes: Buffer.from(SERVER_FINAL) });
  assert.equal((await server.step(Buffer.from(CLIENT_FINAL))).kind, 'failed', 'an exchange is not replayed');
});

test("librdkafka's client-final nonce (its client nonce, then the whole nonce) is accepted, as Kafka's broker does", async () => {
  // librdkafka (kcat) sends r=<client nonce><client nonce><server nonce>; the proof covers what it sent.
  const server = new ScramServer('SCRAM-SHA-256', await users(), () => SERVER_NONCE);
  await server.step(Buffer.from(CLIENT_FIRST));
  const doubled = CLIENT_FINAL.replace('r=', 'r=rOprNGfwEbeRWgbNEkqO');
  const step = await server.step(Buffer.from(doubled));
  // The proof was computed over RFC 7677's message, so it no longer matches: what matters is that
  // the nonce is not the reason (kcat's real exchange is in test/integration/kafka-security.test.ts).
  assert.deepEqual(step, { kind: 'failed', user: 'user', reason: 'bad password (the proof does not match)' });
  const other = new ScramServer('SCRAM-SHA-256', await users(), () => SERVER_NONCE);
  await other.step(Buffer.from(CLIENT_FIRST));
  assert.deepEqual(await other.step(Buffer.from(CLIENT_FINAL.replace('r=rOpr', 'r=XXpr'))), { kind: 'failed', user: 'user', reason: 'nonce does not match' });
});

test('a wrong proof, an unknown user and channel binding are refused; an unknown user learns a stable salt, not that it is unknown', async () => {
  const known = await users();
  const wrong = new ScramServer('SCRAM-SHA-256', known, () => SERVER_NONCE);
  await wrong.step(Buffer.from(CLIENT_FIRST));
  const badProof = CLIENT_FINAL.replace('p=dHzb', 'p=eHzb');
  assert.deepEqual(await wrong.step(Buffer.from(badProof)), { kind: 'failed', user: 'user', reason: 'bad password (the proof does not match)' });

  const salts = await Promise.all([0, 1].map(async () => {
    const server = new ScramServer('SCRAM-SHA-256', known, () => SERVER_NONCE);
    const first = text(await server.step(Buffer.from('n,,n=nobody,r=abc')));
    assert.match(first, /^r=abc.+,s=[A-Za-z0-9+/=]+,i=4096$/);
    const final = await server.step(Buffer.from(`c=biws,r=abc${SERVER_NONCE},p=${Buffer.alloc(32).toString('base64')}`));
    assert.deepEqual(final, { kind: 'failed', user: 'nobody', reason: 'no such user' });
    return /s=([^,]+)/.exec(first)![1];
  }));
  assert.equal(salts[0], salts[1]);

  const sha512 = new ScramServer('SCRAM-SHA-512', known, () => SERVER_NONCE);
  await sha512.step(Buffer.from(CLIENT_FIRST));
  const step = await sha512.step(Buffer.from(`c=biws,r=rOprNGfwEbeRWgbNEkqO${SERVER_NONCE},p=${Buffer.alloc(64).toString('base64')}`));
  assert.equal(step.kind, 'failed');
  assert.match((step as { reason: string }).reason, /no SCRAM-SHA-512 credential/);

  const binding = new ScramServer('SCRAM-SHA-256', known);
  assert.deepEqual(await binding.step(Buffer.from('p=tls-unique,,n=user,r=abc')), { kind: 'failed', user: null, reason: 'channel binding is not offered' });
});
