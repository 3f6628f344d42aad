// One job: read an MQTT 5.0 PUBLISH's properties from its bytes, for the ingest fast path
// (fast-path.ts), as mqtt-packet would parse them for aedes, or say that the packet is aedes's.
//
// Properties section [MQTT-3.3.2.3]:
//   Property Length   Variable Byte Integer (1-4 bytes)
//   then, Property Length bytes of: identifier (1 byte) + value
//     0x01 Payload Format Indicator   byte (0 or 1)
//     0x02 Message Expiry Interval    four-byte integer
//     0x03 Content Type               UTF-8 string (2-byte length + bytes)
//     0x08 Response Topic             UTF-8 string, a topic name (no wildcard [MQTT-3.3.2-14])
//     0x09 Correlation Data           binary data (2-byte length + bytes)
//     0x23 Topic Alias                two-byte integer
//     0x26 User Property              UTF-8 string pair (may repeat [MQTT-3.3.2-18])
//
// Only what a well-behaved client sends is read here. Everything else is left to aedes, which
// refuses it with the reason code the specification asks for (protocol-checks.ts, aedes's publish
// handler): a Subscription Identifier (a client may not send one [MQTT-3.3.4-6]), an unknown or
// repeated property (0x81, 0x82), a string that is not well-formed UTF-8 or holds U+0000
// [MQTT-1.5.3-1/2], a Payload Format Indicator other than 0 or 1, a wildcard Response Topic, a
// section that does not end where its Property Length says.
import { isUtf8 } from 'node:buffer';
import type { PublishProperties } from '../shared/mqtt-property-headers.js';

/** What the fast path needs of a PUBLISH's properties. */
export interface ReadProperties {
  /** Where the payload starts: after the properties. */
  readonly end: number;
  /** The Topic Alias, or 0 for none (0 is not a valid alias [MQTT-3.3.2-8]). */
  readonly topicAlias: number;
  /** The message properties stored as record headers (property-headers.ts); undefined for none. */
  readonly properties: PublishProperties | undefined;
}

const PAYLOAD_FORMAT = 0x01;
const MESSAGE_EXPIRY = 0x02;
const CONTENT_TYPE = 0x03;
const RESPONSE_TOPIC = 0x08;
const CORRELATION_DATA = 0x09;
const TOPIC_ALIAS = 0x23;
const USER_PROPERTY = 0x26;

/**
 * The properties of the PUBLISH whose Property Length starts at `at` (its packet ends at `end`),
 * or null when aedes is to handle the packet (see above).
 */
export function readPublishProperties(data: Buffer, at: number, end: number): ReadProperties | null {
  let length = 0;
  let i = at;
  for (let shift = 0; ; shift += 7) {
    if (i >= end || shift > 21) return null;
    const byte = data[i++]!;
    length += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) break;
  }
  const stop = i + length;
  if (stop > end) return null;
  let topicAlias = 0;
  let properties: PublishProperties | undefined;
  /** Identifiers seen, as bits (all read here are below 0x30); User Property may repeat. */
  let seen = 0;
  while (i < stop) {
    const id = data[i++]!;
    if (id !== USER_PROPERTY) {
      if (id > 0x1f && id !== TOPIC_ALIAS) return null;
      const bit = 1 << (id === TOPIC_ALIAS ? 0 : id);
      if (seen & bit) return null;
      seen |= bit;
    }
    switch (id) {
      case PAYLOAD_FORMAT: {
        if (i + 1 > stop || data[i]! > 1) return null;
        (properties ??= {}).payloadFormatIndicator = data[i] === 1;
        i += 1;
        break;
      }
      case MESSAGE_EXPIRY: {
        if (i + 4 > stop) return null;
        (properties ??= {}).messageExpiryInterval = data.readUInt32BE(i);
        i += 4;
        break;
      }
      case TOPIC_ALIAS: {
        if (i + 2 > stop) return null;
        topicAlias = (data[i]! << 8) | data[i + 1]!;
        if (topicAlias === 0) return null; // [MQTT-3.3.2-8]: aedes answers 0x94
        i += 2;
        break;
      }
      case CONTENT_TYPE:
      case RESPONSE_TOPIC: {
        const textEnd = stringEnd(data, i, stop);
        if (textEnd < 0) return null;
        const text = data.toString('utf8', i + 2, textEnd);
        if (id === RESPONSE_TOPIC && (text.includes('+') || text.includes('#'))) return null;
        if (id === CONTENT_TYPE) (properties ??= {}).contentType = text;
        else (properties ??= {}).responseTopic = text;
        i = textEnd;
        break;
      }
      case CORRELATION_DATA: {
        if (i + 2 > stop) return null;
        const size = (data[i]! << 8) | data[i + 1]!;
        if (i + 2 + size > stop) return null;
        // A copy, as mqtt-packet gives aedes: the header must not pin the whole read.
        (properties ??= {}).correlationData = Buffer.from(data.subarray(i + 2, i + 2 + size));
        i += 2 + size;
        break;
      }
      case USER_PROPERTY: {
        const nameEnd = stringEnd(data, i, stop);
        if (nameEnd < 0) return null;
        const valueEnd = stringEnd(data, nameEnd, stop);
        if (valueEnd < 0) return null;
        addUserProperty((properties ??= {}), data.toString('utf8', i + 2, nameEnd), data.toString('utf8', nameEnd + 2, valueEnd));
        i = valueEnd;
        break;
      }
      default:
        return null;
    }
  }
  return i === stop ? { end: stop, topicAlias, properties } : null;
}

/** Where the UTF-8 string at `at` ends, or -1 when it overruns `stop` or is not a valid MQTT string. */
function stringEnd(data: Buffer, at: number, stop: number): number {
  if (at + 2 > stop) return -1;
  const end = at + 2 + ((data[at]! << 8) | data[at + 1]!);
  if (end > stop) return -1;
  const bytes = data.subarray(at + 2, end);
  return isUtf8(bytes) && !bytes.includes(0) ? end : -1;
}

/**
 * As mqtt-packet keeps them for aedes, so that both paths store the same headers: one value, or an
 * array for a name given more than once, in order (a first value '' is replaced, as there).
 */
function addUserProperty(properties: PublishProperties, name: string, value: string): void {
  const users = (properties.userProperties ??= Object.create(null) as Record<string, string | string[]>);
  const before = users[name];
  if (!before) users[name] = value;
  else if (Array.isArray(before)) before.push(value);
  else users[name] = [before, value];
}
