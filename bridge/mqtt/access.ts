// Who may connect, publish and subscribe: users with scrypt-hashed passwords, anonymous access
// (by default only while no user is configured), ACL rules per user or for everyone ('*'),
// whose topic filters may name the client (%c) and the user (%u) as in Mosquitto, and the forms a
// client id must take (`%u-*`).
import { ConfigInvalidError, type ConfigProblem } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import { hashPassword, parseHash, verifyPassword, type ParsedHash } from './passwords.js';
import { TopicFilter, TopicFilterError } from '../shared/topic-filter.js';

type AuthConfig = Config['mqtt']['auth'];

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
export type AuthResult = { ok: true } | { ok: false; reason: 'bad username or password' | 'anonymous not allowed'; returnCode: 4 | 5 };

export interface ClientIdentity {
  id: string;
  username: string | null;
}

interface AclRule {
  user: string;
  publish: string[];
  subscribe: string[];
}

interface ClientRules {
  publish: TopicFilter[];
  subscribe: TopicFilter[];
}

const CACHE_LIMIT = 10_000;
// Unknown user names are checked against this, so that they cost the same time as known ones.
const DUMMY_HASH = parseHash(await hashPassword('tributary: no such user')) as ParsedHash;

export class AccessControl {
  readonly #rulesByClient = new Map<string, ClientRules>();

  private constructor(
    private readonly users: ReadonlyMap<string, ParsedHash>,
    private readonly allowAnonymous: boolean,
    private readonly acl: readonly AclRule[] | null,
    private readonly clientIds: readonly string[] | null,
  ) {}

  /**
   * Whether user names are proven by a password. Only then does a user name say who a client is,
   * and only then can a session belong to a user (session-owners.ts).
   */
  get verifiesUsers(): boolean {
    return this.users.size > 0;
  }

  /** Whether an ACL is configured: without one, every client may read every topic. */
  get restrictsReading(): boolean {
    return this.acl !== null;
  }

  /** Checks every hash and ACL filter; throws ConfigInvalidError listing all problems. */
  static fromConfig(auth: AuthConfig): AccessControl {
    const problems: ConfigProblem[] = [];
    const users = new Map<string, ParsedHash>();
    auth.users.forEach((user, i) => {
      const parsed = parseHash(user.password);
      if ('invalid' in parsed) problems.push({ key: `mqtt.auth.users[${i}].password`, message: parsed.invalid });
      else if (users.has(user.username)) problems.push({ key: `mqtt.auth.users[${i}].username`, message: `'${user.username}' is listed twice` });
      else users.set(user.username, parsed);
    });
    auth.acl?.forEach((rule, i) => {
      for (const kind of ['publish', 'subscribe'] as const) {
        rule[kind].forEach((filter, j) => {
          try {
            // %u and %c stand for one whole level or part of one; check with a harmless value.
            const probe = new TopicFilter(filter.replaceAll('%u', 'u').replaceAll('%c', 'c'));
            if (probe.names.length > 0) throw new TopicFilterError('ACL filters have no named wildcards');
          } catch (err) {
            if (!(err instanceof TopicFilterError)) throw err;
            problems.push({ key: `mqtt.auth.acl[${i}].${kind}[${j}]`, message: err.message });
          }
        });
      }
    });
    auth.clientIds?.forEach((pattern, i) => {
      if (/[+#/]/.test(pattern)) problems.push({ key: `mqtt.auth.clientIds[${i}]`, message: `'${pattern}' may not contain '+', '#' or '/'` });
    });
    if (problems.length > 0) throw new ConfigInvalidError(problems, 'mqtt.auth');
    return new AccessControl(users, auth.allowAnonymous ?? users.size === 0, auth.acl, auth.clientIds);
  }

  async authenticate(username: string | undefined, password: Buffer | undefined): Promise<AuthResult> {
    if (username === undefined) {
      return this.allowAnonymous ? { ok: true } : { ok: false, reason: 'anonymous not allowed', returnCode: 5 };
    }
    // With no users configured, a user name identifies the client (for %u) but proves nothing.
    if (this.users.size === 0 && this.allowAnonymous) return { ok: true };
    const stored = this.users.get(username);
    const matches = await verifyPassword(password ?? Buffer.alloc(0), stored ?? DUMMY_HASH);
    return stored !== undefined && matches ? { ok: true } : { ok: false, reason: 'bad username or password', returnCode: 4 };
  }

  canPublish(client: ClientIdentity, topic: string): boolean {
    if (this.acl === null) return true;
    return this.rulesFor(client).publish.some((filter) => filter.match(topic) !== null);
  }

  /**
   * Whether a message on `topic` may be delivered to `client`: checked at every delivery (live,
   * queued while it was offline, retained), so that an ACL narrowed since the subscription was
   * made, or a session restored from before, never hands over what the rules do not grant.
   */
  canRead(client: ClientIdentity, topic: string): boolean {
    if (this.acl === null) return true;
    return this.rulesFor(client).subscribe.some((filter) => filter.match(topic) !== null);
  }

  /**
   * Whether `client.id` has one of the forms `mqtt.auth.clientIds` lists (`*` is any run of
   * characters, `%u` the user name); any id when the list is null. A `%u` form never matches a
   * client without a user name.
   */
  allowsClientId(client: ClientIdentity): boolean {
    if (this.clientIds === null) return true;
    return this.clientIds.some((pattern) => {
      if (pattern.includes('%u') && (client.username === null || client.username === '')) return false;
      const filled = pattern.split('%u').map((part) => part.split('*').map(escapeRegExp).join('.*')).join(escapeRegExp(client.username ?? ''));
      return new RegExp(`^${filled}$`, 's').test(client.id);
    });
  }

  canSubscribe(client: ClientIdentity, filter: string): boolean {
    if (this.acl === null) return true;
    let wanted: TopicFilter;
    try {
      wanted = new TopicFilter(filter);
    } catch {
      return false;
    }
    return this.rulesFor(client).subscribe.some((allowed) => allowed.covers(wanted));
  }

  /** The client's own rules with %u and %c filled in, compiled once per client. */
  private rulesFor(client: ClientIdentity): ClientRules {
    const cacheKey = `${client.username ?? ''}\u0000${client.id}`;
    let rules = this.#rulesByClient.get(cacheKey);
    if (rules !== undefined) return rules;
    rules = { publish: [], subscribe: [] };
    for (const rule of this.acl!) {
      if (rule.user !== '*' && rule.user !== client.username) continue;
      for (const kind of ['publish', 'subscribe'] as const) {
        for (const filter of rule[kind]) {
          const filled = substitute(filter, client);
          if (filled !== null) rules[kind].push(new TopicFilter(filled));
        }
      }
    }
    if (this.#rulesByClient.size >= CACHE_LIMIT) this.#rulesByClient.delete(this.#rulesByClient.keys().next().value!);
    this.#rulesByClient.set(cacheKey, rules);
    return rules;
  }
}

/**
 * Fills in %u and %c. A value containing '+', '#' or '/' would widen the filter (a client id '#'
 * must not be granted everything), so such a rule does not apply to that client at all; nor does a
 * %u rule to a client without a user name.
 */
function substitute(filter: string, client: ClientIdentity): string | null {
  const unsafe = (value: string): boolean => /[+#/]/.test(value) || value === '';
  if (filter.includes('%u') && (client.username === null || unsafe(client.username))) return null;
  if (filter.includes('%c') && unsafe(client.id)) return null;
  return filter.replaceAll('%u', client.username ?? '').replaceAll('%c', client.id);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
