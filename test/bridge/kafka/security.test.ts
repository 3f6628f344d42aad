import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigInvalidError } from '../../../bridge/config/errors.js';
import { configSchema } from '../../../bridge/config/schema.js';
import { kafkaSecurity } from '../../../bridge/kafka/security.js';
import { createLogger } from '../../../bridge/logger.js';
import { hashPassword } from '../../../bridge/shared/passwords.js';

type Line = Record<string, unknown>;

function logger(): { lines: Line[]; logger: ReturnType<typeof createLogger> } {
  const lines: Line[] = [];
  return { lines, logger: createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as Line) }) };
}

test('authentication is required by default exactly when mqtt.auth.users is not empty; required without users is a config error', async () => {
  const none = configSchema.parse({});
  assert.equal(kafkaSecurity(none, logger().logger).required, false);
  const users = [{ username: 'reader', password: await hashPassword('x') }];
  const withUsers = configSchema.parse({ mqtt: { auth: { users } } });
  const { lines, logger: log } = logger();
  assert.equal(kafkaSecurity(withUsers, log).required, true);
  assert.ok(lines.some((l) => l.mechanism === 'SCRAM-SHA-256' && JSON.stringify(l.users) === '["reader"]'), 'users without SCRAM credentials are named at start-up');
  const off = { ...withUsers, kafka: { ...withUsers.kafka, sasl: { ...withUsers.kafka.sasl, required: false } } };
  assert.equal(kafkaSecurity(off, log).required, false);
  const impossible = { ...none, kafka: { ...none.kafka, sasl: { ...none.kafka.sasl, required: true } } } as Parameters<typeof kafkaSecurity>[0];
  assert.throws(() => kafkaSecurity(impossible, log), (err: unknown) => err instanceof ConfigInvalidError && /kafka\.sasl\.required: is true, but mqtt\.auth\.users is empty/.test(err.message));
  const badScram = { ...withUsers, mqtt: { ...withUsers.mqtt, auth: { ...withUsers.mqtt.auth, users: [{ ...users[0]!, scram: ['$scram-sha-256$i=10$AA==$AA==$AA=='] }] } } };
  assert.throws(() => kafkaSecurity(badScram, log), /mqtt\.auth\.users\[0\]\.scram\[0\]: i=10 is out of range/);
});
