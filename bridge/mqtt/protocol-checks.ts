// What MQTT 3.1.1 and 5.0 require of a client's packets and aedes (with mqtt-packet 9) lets through.
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
 *   packet id as payload);
 * - MQTT 5.0: a property other than User Property given more than once (DISCONNECT 0x82).
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
  properties: duplicateProperty,
};

/** MQTT 5.0 properties by identifier: the size of their value (section 2.2.2.2), -1 a Variable Byte Integer, -2 a string or binary, -3 a string pair. */
const PROPERTY_SIZES: Readonly<Record<number, number>> = {
  0x01: 1, 0x02: 4, 0x03: -2, 0x08: -2, 0x09: -2, 0x0b: -1, 0x11: 4, 0x12: -2, 0x13: 2, 0x15: -2, 0x16: -2, 0x17: 1, 0x18: 4, 0x19: 1,
  0x1a: -2, 0x1c: -2, 0x1f: -2, 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: -3, 0x27: 4, 0x28: 1, 0x29: 1, 0x2a: 1,
};
const USER_PROPERTY = 0x26;

/**
 * MQTT 5.0: "It is a Protocol Error to include" each property "more than once" (section 2.2.2.2 and
 * each packet's property list), User Property aside. mqtt-packet keeps a repeated one as an array,
 * or overwrites it when the first value was 0, so the bytes themselves are read here: `raw` from the
 * Property Length on, already found well-formed by mqtt-packet.
 */
function duplicateProperty(raw: Buffer): string | null {
  let at = 0;
  while (raw[at]! & 0x80) at++; // the Property Length
  at++;
  const seen = new Set<number>();
  while (at < raw.length) {
    const id = raw[at++]!;
    if (id !== USER_PROPERTY && seen.has(id)) return `property 0x${id.toString(16).padStart(2, '0')} more than once (a Protocol Error, MQTT 5.0 section 2.2.2.2)`;
    seen.add(id);
    const size = PROPERTY_SIZES[id];
    if (size === undefined) return null; // mqtt-packet refuses an unknown one itself
    if (size > 0) at += size;
    else if (size === -1) while (raw[at++]! & 0x80);
    else for (let strings = size === -3 ? 2 : 1; strings > 0; strings--) at += 2 + ((raw[at]! << 8) | raw[at + 1]!);
  }
  return null;
}

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
