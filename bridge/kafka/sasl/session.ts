// What one Kafka connection has proven: nothing yet, an exchange under way, or a user. Kafka's
// order (KIP-43, KIP-152): ApiVersions (optional), SaslHandshake naming a mechanism, then the
// mechanism's tokens, in SaslAuthenticate requests (handshake v1) or as bare size-prefixed frames
// (handshake v0). While authentication is required (kafka.sasl.required), every other request
// before it succeeds closes the connection, as Kafka's broker does; so does a failed exchange,
// after its answer.
import type { Logger } from '../../logger.js';
import { AuthenticationFailedError } from '../errors.js';
import type { KafkaAuthorizer, Operation, Principal } from '../authorization.js';
import type { SaslMechanismServer } from './mechanism.js';
import { PlainServer } from './plain.js';
import { ScramServer } from './scram.js';
import type { KafkaUsers } from './users.js';

export type SaslMechanismName = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

/** The node's settings, shared by every connection. */
export interface KafkaSecurity {
  users: KafkaUsers;
  mechanisms: readonly SaslMechanismName[];
  /** Requests other than ApiVersions, SaslHandshake and SaslAuthenticate need an authenticated connection. */
  required: boolean;
  authorizer: KafkaAuthorizer;
}

/** ApiVersions, SaslHandshake, SaslAuthenticate: served before authentication. */
const BEFORE_AUTHENTICATION = new Set([18, 17, 36]);

export type TokenResult = { kind: 'continue' | 'done'; bytes: Buffer } | { kind: 'failed' };

export class KafkaSession {
  #principal: Principal = null;
  #exchange: { mechanism: SaslMechanismName; server: SaslMechanismServer } | null = null;
  #authenticated = false;
  /** After a SaslHandshake v0 the next frames are bare tokens, not requests. */
  rawTokens = false;
  /** The connection is closed once the current answer is written (a failed authentication). */
  closeAfterAnswer = false;

  constructor(
    readonly security: KafkaSecurity,
    private readonly logger: Logger,
  ) {}

  get principal(): Principal {
    return this.#principal;
  }

  get authenticated(): boolean {
    return this.#authenticated;
  }

  /** Whether a request of `apiKey` may be served on this connection now. */
  mayServe(apiKey: number): boolean {
    return this.#authenticated || BEFORE_AUTHENTICATION.has(apiKey) || (!this.security.required && this.#exchange === null);
  }

  authorize(operation: Operation, topic: string): boolean {
    return this.security.authorizer.authorize(this.#principal, operation, topic);
  }

  /** SaslHandshake: why it cannot start (a state or mechanism error), or null once it has. */
  begin(mechanism: string, handshakeVersion: number): 'illegal state' | 'unsupported mechanism' | null {
    if (this.#authenticated || this.#exchange !== null) return 'illegal state';
    const name = this.security.mechanisms.find((m) => m === mechanism);
    if (name === undefined) return 'unsupported mechanism';
    const { users } = this.security;
    this.#exchange = { mechanism: name, server: name === 'PLAIN' ? new PlainServer(users) : new ScramServer(name, users) };
    this.rawTokens = handshakeVersion === 0;
    return null;
  }

  /** Whether a handshake has named a mechanism whose exchange is not finished. */
  get exchanging(): boolean {
    return this.#exchange !== null && !this.#authenticated;
  }

  /** One token of the exchange; a failure is logged here (naming the user, never the password) and closes the connection after its answer. */
  async token(bytes: Buffer): Promise<TokenResult> {
    const exchange = this.#exchange!;
    const step = await exchange.server.step(bytes);
    if (step.kind === 'challenge') return { kind: 'continue', bytes: step.bytes };
    if (step.kind === 'done') {
      this.#authenticated = true;
      this.#principal = step.user;
      this.rawTokens = false;
      this.logger.debug({ user: step.user, mechanism: exchange.mechanism }, 'Kafka client authenticated');
      return { kind: 'done', bytes: step.bytes };
    }
    this.closeAfterAnswer = true;
    const err = new AuthenticationFailedError(step.user, step.reason);
    this.logger.warn({ code: err.code, user: step.user, mechanism: exchange.mechanism, reason: step.reason }, err.message);
    return { kind: 'failed' };
  }
}
