// SASL PLAIN (RFC 4616): one token, `[authzid] NUL authcid NUL passwd` in UTF-8. The password
// travels as it is: use it on a TLS listener (kafka.tls) or on a trusted network only.
import type { SaslMechanismServer, SaslStep } from './mechanism.js';
import type { KafkaUsers } from './users.js';

export class PlainServer implements SaslMechanismServer {
  constructor(private readonly users: KafkaUsers) {}

  async step(token: Buffer): Promise<SaslStep> {
    const first = token.indexOf(0);
    const second = first < 0 ? -1 : token.indexOf(0, first + 1);
    if (second < 0) return { kind: 'failed', user: null, reason: 'PLAIN token is not authzid NUL authcid NUL password' };
    const authzid = token.subarray(0, first).toString('utf8');
    const user = token.subarray(first + 1, second).toString('utf8');
    if (user === '') return { kind: 'failed', user: null, reason: 'PLAIN token names no user' };
    // RFC 4616 section 2: acting as another identity is not offered; the authzid may only repeat the user.
    if (authzid !== '' && authzid !== user) return { kind: 'failed', user, reason: `authorization identity '${authzid}' is not the user` };
    const ok = await this.users.verifyPlain(user, token.subarray(second + 1));
    return ok ? { kind: 'done', user, bytes: Buffer.alloc(0) } : { kind: 'failed', user, reason: 'bad user name or password' };
  }
}
