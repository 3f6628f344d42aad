// What a topic may be called: Kafka's rule (1-249 characters of A-Z a-z 0-9 . _ -), so that every
// log topic can be mirrored upstream and served to Kafka clients under its own name. The one
// definition the log, the config schema, the mapping rules and the upstream forwarder check
// against; it imports nothing, so config and bridge/shared/ may use it too.

/** A whole topic name. No global flag: `test` keeps no state between calls. */
export const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** The rule in words, for messages that say why a name was refused. */
export const TOPIC_NAME_RULE = '1-249 characters of A-Z a-z 0-9 . _ -';

export function isTopicName(name: string): boolean {
  return TOPIC_NAME.test(name);
}
