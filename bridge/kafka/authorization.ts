// Who may read and write which log topics through the Kafka endpoint (kafka.acl). The one hook
// every handler calls, per topic, before it serves or stores anything:
//
//   context.authorize('read' | 'write', topic)   (the connection's principal filled in)
//
// read: Fetch, ListOffsets, and seeing the topic in Metadata (with write, as Kafka's DESCRIBE is
// implied by READ and WRITE); the consumer-group APIs check read on the topics of their offsets.
// write: Produce. A refused partition is answered TOPIC_AUTHORIZATION_FAILED (29).
//
// No list (null, the default): everyone may do everything, as before ACLs. A list grants only what
// its rules say: a rule applies to its user, or to everyone with '*' (an unauthenticated client
// too); its topic patterns are names where `*` stands for any run of characters.
import type { Config } from '../config/schema.js';

export type Operation = 'read' | 'write';

/** The authenticated user name of a connection; null: it has not authenticated (anonymous). */
export type Principal = string | null;

interface Rule {
  user: string;
  read: RegExp[];
  write: RegExp[];
}

export class KafkaAuthorizer {
  private constructor(private readonly rules: readonly Rule[] | null) {}

  static fromConfig(acl: Config['kafka']['acl']): KafkaAuthorizer {
    return new KafkaAuthorizer(acl === null ? null : acl.map((rule) => ({ user: rule.user, read: rule.read.map(pattern), write: rule.write.map(pattern) })));
  }

  /** Whether an ACL is configured (without one, every principal may read and write every topic). */
  get restricts(): boolean {
    return this.rules !== null;
  }

  authorize(principal: Principal, operation: Operation, topic: string): boolean {
    if (this.rules === null) return true;
    return this.rules.some((rule) => (rule.user === '*' || rule.user === principal) && rule[operation].some((p) => p.test(topic)));
  }

  /** Whether the topic may be described (Metadata): read or write on it. */
  mayDescribe(principal: Principal, topic: string): boolean {
    return this.authorize(principal, 'read', topic) || this.authorize(principal, 'write', topic);
  }
}

function pattern(text: string): RegExp {
  return new RegExp(`^${text.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
}
