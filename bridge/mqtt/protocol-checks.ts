// What MQTT 3.1.1 requires of a client's packets and aedes 1.x (with mqtt-packet 9) lets through.
// Each breach closes the connection, as the specification says of a protocol violation [MQTT-4.8.0-1]
// ("unless stated otherwise ... MUST close the Network Connection").
import { isUtf8 } from 'node:buffer';
import type { Client, ConnectPacket } from 'aedes';
import { TopicFilter, TopicFilterError } from '../shared/topic-filter.js';
import { checkParsing, type ParseChecks } from './aedes-internals.js';

/**
 * Makes the parser of an aedes client refuse, before any hook or the log sees them:
 * - strings that are not well-formed UTF-8 [MQTT-1.5.3-1] or contain U+0000 [MQTT-1.5.3-2].
 *   mqtt-packet decodes strings lossily, so `a/\xff\xfe` and `a/\xc0\x80` would both arrive as
 *   `a/\ufffd\ufffd`: two devices merged into one record key;
 * - a packet identifier of 0 in PUBLISH (QoS > 0), SUBSCRIBE, UNSUBSCRIBE and the acknowledgements
 *   [MQTT-2.3.1-1];
 * - an UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2] (mqtt-packet's own check counts the
 *   packet id as payload).
 * The parser stops at an error: the packet is never emitted, and aedes closes the connection.
 */
export function enforceStrictParsing(client: Client): Client {
  return checkParsing(client, strictChecks);
}

const strictChecks: ParseChecks = {
  string: (text, raw) => {
    if (!isUtf8(raw)) return 'a string is not well-formed UTF-8 [MQTT-1.5.3-1]';
    return text.includes('\u0000') ? 'a string contains U+0000 [MQTT-1.5.3-2]' : null;
  },
  messageId: (messageId) => (messageId === 0 ? 'packet identifier 0 [MQTT-2.3.1-1]' : null),
  unsubscribe: (filters) => (filters?.length === 0 ? 'an UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]' : null),
};

/** Why a CONNECT breaks the rules aedes does not check, or null. */
export function connectViolation(packet: ConnectPacket): string | null {
  // [MQTT-3.1.2-22] (3.1.1; MQTT 3.1 alike): no password without a user name. MQTT 5 allows it.
  if (packet.protocolVersion !== 5 && packet.password !== undefined && packet.username === undefined) {
    return 'a password without a user name [MQTT-3.1.2-22]';
  }
  const will = packet.will;
  if (will != null) {
    // The will is published on its topic like any PUBLISH: a topic name, never a filter.
    if (will.topic.length === 0) return 'an empty will topic [MQTT-4.7.3-1]';
    if (/[+#]/.test(will.topic)) return `a wildcard in the will topic '${will.topic}' [MQTT-4.7.1-1]`;
  }
  return null;
}

/**
 * Why a SUBSCRIBE's filter is not a valid MQTT topic filter, or null: `#` only as a whole last level
 * [MQTT-4.7.1-2], `+` only as a whole level [MQTT-4.7.1-3], not empty [MQTT-4.7.3-1]. aedes 1.x
 * lets `a+` and `a/#/b` through, and the retained-message lookup then threw outside any handler.
 * (Our own TopicFilter also reads `+name` as a named wildcard: in MQTT that is no filter.)
 */
export function filterViolation(filter: string): string | null {
  try {
    if (new TopicFilter(filter).names.length === 0) return null;
  } catch (err) {
    if (!(err instanceof TopicFilterError)) throw err;
  }
  return `'${filter}' is not a valid topic filter [MQTT-4.7.1-2/3]`;
}
