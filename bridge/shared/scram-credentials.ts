// SCRAM credentials (RFC 5802 section 3; RFC 7677 for SHA-256) for the users of the Kafka
// endpoint: what the server keeps of a password so that a client can prove it knows the password
// without sending it. The scrypt hash of mqtt.auth.users cannot serve: SCRAM's proof is made from
// PBKDF2-HMAC(password, salt, i), so the server needs StoredKey and ServerKey derived from the
// password itself. `tributary passwd --username` prints them beside the hash, as
// `$scram-sha-256$i=4096$<salt>$<StoredKey>$<ServerKey>` (base64). They are not the password and
// do not let anyone log in as the user (that needs ClientKey), but they let whoever holds them
// pose as this server to that user: keep the config file as private as the hashes.
//
//   SaltedPassword = PBKDF2-HMAC-H(password, salt, i)     (Hi() of RFC 5802)
//   ClientKey      = HMAC(SaltedPassword, "Client Key")
//   StoredKey      = H(ClientKey)
//   ServerKey      = HMAC(SaltedPassword, "Server Key")
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';

export const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type ScramMechanism = (typeof SCRAM_MECHANISMS)[number];

/** RFC 7677 section 4 asks for at least 4096; Kafka's minimum and librdkafka's default too. */
export const SCRAM_ITERATIONS = 4096;
const SALT_BYTES = 16;
const FORMAT = /^\$scram-sha-(256|512)\$i=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

export interface ScramCredential {
  mechanism: ScramMechanism;
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** The hash function of a mechanism, for node:crypto. */
export function scramHash(mechanism: ScramMechanism): 'sha256' | 'sha512' {
  return mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512';
}

export function hmac(mechanism: ScramMechanism, key: Buffer, data: string | Buffer): Buffer {
  return createHmac(scramHash(mechanism), key).update(data).digest();
}

export function digest(mechanism: ScramMechanism, data: Buffer): Buffer {
  return createHash(scramHash(mechanism)).update(data).digest();
}

/** The credential of `password` for `mechanism`, with a fresh salt (or the one given). */
export async function makeScramCredential(mechanism: ScramMechanism, password: string, iterations = SCRAM_ITERATIONS, salt: Buffer = randomBytes(SALT_BYTES)): Promise<ScramCredential> {
  const hash = scramHash(mechanism);
  const length = createHash(hash).digest().length;
  const salted = await new Promise<Buffer>((resolve, reject) => pbkdf2(password, salt, iterations, length, hash, (err, key) => (err ? reject(err) : resolve(key))));
  const clientKey = hmac(mechanism, salted, 'Client Key');
  return { mechanism, iterations, salt, storedKey: digest(mechanism, clientKey), serverKey: hmac(mechanism, salted, 'Server Key') };
}

export function formatScramCredential(c: ScramCredential): string {
  const bits = c.mechanism === 'SCRAM-SHA-256' ? '256' : '512';
  return `$scram-sha-${bits}$i=${c.iterations}$${c.salt.toString('base64')}$${c.storedKey.toString('base64')}$${c.serverKey.toString('base64')}`;
}

/** The parts of a stored credential, or why it is not one. */
export function parseScramCredential(stored: string): ScramCredential | { invalid: string } {
  const m = FORMAT.exec(stored);
  if (m === null) return { invalid: 'not a SCRAM credential made by `tributary passwd` ($scram-sha-256$i=..$salt$storedKey$serverKey)' };
  const mechanism: ScramMechanism = m[1] === '256' ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512';
  const iterations = Number(m[2]);
  if (iterations < SCRAM_ITERATIONS || iterations > 1_000_000) return { invalid: `i=${iterations} is out of range (${SCRAM_ITERATIONS} to 1000000)` };
  const keyBytes = mechanism === 'SCRAM-SHA-256' ? 32 : 64;
  const [salt, storedKey, serverKey] = [m[3]!, m[4]!, m[5]!].map((b) => Buffer.from(b, 'base64')) as [Buffer, Buffer, Buffer];
  if (storedKey.length !== keyBytes || serverKey.length !== keyBytes) return { invalid: `the keys of ${mechanism} are ${keyBytes} bytes` };
  return { mechanism, iterations, salt, storedKey, serverKey };
}
