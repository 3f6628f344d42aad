// SASL SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677), the server side, without channel
// binding (Kafka offers none):
//
//   client-first  n,,n=<user>,r=<client nonce>[,<extensions>]        (gs2 header "n,," or "y,,")
//   server-first  r=<client nonce><server nonce>,s=<salt>,i=<iterations>
//   client-final  c=<base64 of the gs2 header>,r=<nonce>,p=<ClientProof>
//   server-final  v=<ServerSignature>
//
//   AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
//   ClientSignature = HMAC(StoredKey, AuthMessage);  ClientKey = ClientProof XOR ClientSignature
//   the client is proven when H(ClientKey) = StoredKey;  ServerSignature = HMAC(ServerKey, AuthMessage)
//
// Kafka's clients add extensions after the nonce (`tokenauth=true` for delegation tokens, which
// are not served: refused); anything else unknown is ignored as RFC 5802 section 5.1 allows.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { digest, hmac, type ScramCredential, type ScramMechanism } from '../../shared/scram-credentials.js';
import type { SaslMechanismServer, SaslStep } from './mechanism.js';
import type { KafkaUsers } from './users.js';

const NONCE_BYTES = 24;

interface Exchange {
  user: string;
  known: 'yes' | 'no such user' | 'no credential';
  credential: ScramCredential;
  gs2Header: string;
  clientFirstBare: string;
  serverFirst: string;
  nonce: string;
}

export class ScramServer implements SaslMechanismServer {
  #exchange: Exchange | null = null;
  #finished = false;

  constructor(
    private readonly mechanism: ScramMechanism,
    private readonly users: KafkaUsers,
    /** The server's part of the nonce: random (printable, no ','); tests pass RFC 7677's. */
    private readonly serverNonce: () => string = () => randomBytes(NONCE_BYTES).toString('base64'),
  ) {}

  async step(token: Buffer): Promise<SaslStep> {
    if (this.#finished) return { kind: 'failed', user: this.#exchange?.user ?? null, reason: 'SCRAM exchange already finished' };
    if (this.#exchange === null) return this.first(token.toString('utf8'));
    this.#finished = true;
    return this.final(this.#exchange, token.toString('utf8'));
  }

  private first(message: string): SaslStep {
    const m = /^([ny]),(a=[^,]*)?,(.*)$/s.exec(message);
    if (m === null) {
      this.#finished = true;
      const reason = message.startsWith('p=') ? 'channel binding is not offered' : 'client-first message does not parse';
      return { kind: 'failed', user: null, reason };
    }
    const clientFirstBare = m[3]!;
    const attributes = parseAttributes(clientFirstBare);
    const rawUser = attributes.get('n');
    const clientNonce = attributes.get('r');
    const user = rawUser === undefined ? null : decodeSaslName(rawUser);
    if (user === null || user === '' || clientNonce === undefined || clientNonce === '' || clientFirstBare.startsWith('m=')) {
      this.#finished = true;
      return { kind: 'failed', user, reason: 'client-first message lacks a user name or nonce' };
    }
    if (attributes.get('tokenauth') === 'true') {
      this.#finished = true;
      return { kind: 'failed', user, reason: 'delegation tokens are not served' };
    }
    const authzid = m[2] === undefined ? '' : decodeSaslName(m[2].slice(2));
    if (authzid !== '' && authzid !== user) {
      this.#finished = true;
      return { kind: 'failed', user, reason: `authorization identity '${authzid}' is not the user` };
    }
    const { credential, known } = this.users.scramCredential(user, this.mechanism);
    const nonce = clientNonce + this.serverNonce();
    const serverFirst = `r=${nonce},s=${credential.salt.toString('base64')},i=${credential.iterations}`;
    this.#exchange = { user, known, credential, gs2Header: message.slice(0, message.length - clientFirstBare.length), clientFirstBare, serverFirst, nonce };
    return { kind: 'challenge', bytes: Buffer.from(serverFirst, 'utf8') };
  }

  private final(x: Exchange, message: string): SaslStep {
    const fail = (reason: string): SaslStep => ({ kind: 'failed', user: x.user, reason });
    const at = message.lastIndexOf(',p=');
    if (at < 0) return fail('client-final message has no proof');
    const withoutProof = message.slice(0, at);
    const attributes = parseAttributes(withoutProof);
    if (attributes.get('c') !== Buffer.from(x.gs2Header, 'utf8').toString('base64')) return fail('channel binding attribute does not repeat the gs2 header');
    // RFC 5802 wants r to repeat the nonce exactly; librdkafka sends the client nonce before it once
    // more, and Kafka's broker accepts any r that ends with it (ScramSaslServer): so do we.
    if (!(attributes.get('r') ?? '').endsWith(x.nonce)) return fail('nonce does not match');
    const proof = Buffer.from(message.slice(at + 3), 'base64');
    const { credential } = x;
    if (proof.length !== credential.storedKey.length) return fail('proof has the wrong length');

    const authMessage = `${x.clientFirstBare},${x.serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.mechanism, credential.storedKey, authMessage);
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!;
    const proven = timingSafeEqual(digest(this.mechanism, clientKey), credential.storedKey);
    if (x.known !== 'yes') return fail(x.known === 'no such user' ? 'no such user' : `the user has no ${this.mechanism} credential (tributary passwd --username prints it)`);
    if (!proven) return fail('bad password (the proof does not match)');
    const serverSignature = hmac(this.mechanism, credential.serverKey, authMessage);
    return { kind: 'done', user: x.user, bytes: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8') };
  }
}

/** `a=1,b=2` as a map; a value may contain '=' (base64), never ','. */
function parseAttributes(text: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0 && !attributes.has(part.slice(0, eq))) attributes.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return attributes;
}

/** RFC 5802 section 5.1: ',' and '=' in a name travel as =2C and =3D. */
function decodeSaslName(name: string): string {
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}
