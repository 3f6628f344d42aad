// The Kafka endpoint's security settings from the config, checked at one place: the users (the
// same as MQTT's), the SASL mechanisms, whether authentication is required, and the ACL.
import { ConfigInvalidError } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { SCRAM_MECHANISMS } from '../shared/scram-credentials.js';
import { KafkaAuthorizer } from './authorization.js';
import type { KafkaSecurity } from './sasl/session.js';
import { KafkaUsers } from './sasl/users.js';

export function kafkaSecurity(config: Pick<Config, 'kafka' | 'mqtt'>, logger: Logger): KafkaSecurity {
  const users = KafkaUsers.fromConfig(config.mqtt.auth.users);
  const { sasl, acl } = config.kafka;
  // null: required as soon as there is someone to authenticate as.
  const required = sasl.required ?? users.size > 0;
  if (required && users.size === 0) {
    throw new ConfigInvalidError([{ key: 'kafka.sasl.required', message: 'is true, but mqtt.auth.users is empty: no client could authenticate' }], 'kafka.sasl');
  }
  for (const mechanism of SCRAM_MECHANISMS) {
    const without = sasl.mechanisms.includes(mechanism) ? users.withoutScram(mechanism) : [];
    if (without.length > 0) logger.warn({ mechanism, users: without }, `Kafka users without a ${mechanism} credential can authenticate with PLAIN only (tributary passwd --username prints one)`);
  }
  return { users, mechanisms: sasl.mechanisms, required, authorizer: KafkaAuthorizer.fromConfig(acl) };
}
