// Password hashes for the users of MQTT and the Kafka endpoint (mqtt.auth.users): scrypt from
// node:crypto, in a self-describing string `$scrypt$N=16384,r=8,p=1$<salt>$<hash>` (base64) so the
// parameters can change without breaking stored hashes. N=2^14, r=8 costs 16 MiB and a few
// milliseconds per check on a Raspberry Pi 4: cheap enough for a reconnect storm (paced by
// mqtt.limits.connectionsPerSecond), far too slow to guess at.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const PARAMS = { N: 16_384, r: 8, p: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;
const FORMAT = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

export interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** The parts of a stored hash, or why it is not one. */
export function parseHash(stored: string): ParsedHash | { invalid: string } {
  const m = FORMAT.exec(stored);
  if (m === null) return { invalid: 'not a hash made by `tributary passwd` ($scrypt$N=..,r=..,p=..$salt$hash)' };
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N < 2 || (N & (N - 1)) !== 0) return { invalid: `N=${N} is not a power of two` };
  if (r < 1 || p < 1 || 128 * N * r > 256 * 1024 * 1024) return { invalid: `scrypt parameters N=${N},r=${r},p=${p} are out of range` };
  const hash = Buffer.from(m[5]!, 'base64');
  if (hash.length < 16) return { invalid: 'the hash part is too short' };
  return { N, r, p, salt: Buffer.from(m[4]!, 'base64'), hash };
}

function derive(password: string | Buffer, salt: Buffer, length: number, params: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, length, { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, HASH_BYTES, PARAMS);
  return `$scrypt$N=${PARAMS.N},r=${PARAMS.r},p=${PARAMS.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Whether `password` matches `stored`; false for a malformed hash too. */
export async function verifyPassword(password: string | Buffer, stored: string | ParsedHash): Promise<boolean> {
  const parsed = typeof stored === 'string' ? parseHash(stored) : stored;
  if ('invalid' in parsed) return false;
  const candidate = await derive(password, parsed.salt, parsed.hash.length, parsed);
  return timingSafeEqual(candidate, parsed.hash);
}
