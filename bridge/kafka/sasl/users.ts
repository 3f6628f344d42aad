// The users a Kafka client may authenticate as: the same list as MQTT's (mqtt.auth.users). PLAIN
// checks the password against the user's scrypt hash; SCRAM needs the user's SCRAM credential of
// that mechanism (its `scram` entries, made by `tributary passwd --username`), since a scrypt hash
// cannot be turned into one (bridge/shared/scram-credentials.ts).
import { createHmac, randomBytes } from 'node:crypto';
import { ConfigInvalidError, type ConfigProblem } from '../../config/errors.js';
import type { Config } from '../../config/schema.js';
import { hashPassword, parseHash, verifyPassword, type ParsedHash } from '../../shared/passwords.js';
import { parseScramCredential, SCRAM_ITERATIONS, type ScramCredential, type ScramMechanism } from '../../shared/scram-credentials.js';

interface User {
  hash: ParsedHash;
  scram: Map<ScramMechanism, ScramCredential>;
}

// Unknown user names are checked against this, so that they cost the same time as known ones.
const DUMMY_HASH = parseHash(await hashPassword('tributary: no such Kafka user')) as ParsedHash;

export class KafkaUsers {
  /** Salts made up for unknown users, the same for a name each time (RFC 5802 section 9: do not tell who exists). */
  readonly #fakeSaltKey = randomBytes(32);

  private constructor(private readonly users: ReadonlyMap<string, User>) {}

  /** Checks every user's SCRAM credentials; throws ConfigInvalidError listing all problems. (The hashes are MQTT's to check.) */
  static fromConfig(users: Config['mqtt']['auth']['users']): KafkaUsers {
    const problems: ConfigProblem[] = [];
    const byName = new Map<string, User>();
    users.forEach((user, i) => {
      const hash = parseHash(user.password);
      if ('invalid' in hash) return;
      const scram = new Map<ScramMechanism, ScramCredential>();
      (user.scram ?? []).forEach((stored, j) => {
        const parsed = parseScramCredential(stored);
        if ('invalid' in parsed) problems.push({ key: `mqtt.auth.users[${i}].scram[${j}]`, message: parsed.invalid });
        else if (scram.has(parsed.mechanism)) problems.push({ key: `mqtt.auth.users[${i}].scram[${j}]`, message: `a second ${parsed.mechanism} credential` });
        else scram.set(parsed.mechanism, parsed);
      });
      if (!byName.has(user.username)) byName.set(user.username, { hash, scram });
    });
    if (problems.length > 0) throw new ConfigInvalidError(problems, 'mqtt.auth.users');
    return new KafkaUsers(byName);
  }

  get size(): number {
    return this.users.size;
  }

  /** Users who cannot use `mechanism` (no credential for it). */
  withoutScram(mechanism: ScramMechanism): string[] {
    return [...this.users].filter(([, user]) => !user.scram.has(mechanism)).map(([name]) => name);
  }

  /** Whether `password` is the user's; an unknown user costs the same time as a wrong password. */
  async verifyPlain(username: string, password: Buffer): Promise<boolean> {
    const user = this.users.get(username);
    const matches = await verifyPassword(password, user?.hash ?? DUMMY_HASH);
    return user !== undefined && matches;
  }

  /**
   * The user's credential for `mechanism`, or, for an unknown user or one without that credential,
   * one that no proof matches with a salt that stays the same for the name: the exchange then fails
   * at the proof, as for a wrong password.
   */
  scramCredential(username: string, mechanism: ScramMechanism): { credential: ScramCredential; known: 'yes' | 'no such user' | 'no credential' } {
    const user = this.users.get(username);
    const credential = user?.scram.get(mechanism);
    if (credential !== undefined) return { credential, known: 'yes' };
    const keyBytes = mechanism === 'SCRAM-SHA-256' ? 32 : 64;
    const salt = createHmac('sha256', this.#fakeSaltKey).update(`${mechanism}\u0000${username}`).digest().subarray(0, 16);
    const fake = { mechanism, iterations: SCRAM_ITERATIONS, salt, storedKey: randomBytes(keyBytes), serverKey: randomBytes(keyBytes) };
    return { credential: fake, known: user === undefined ? 'no such user' : 'no credential' };
  }
}
