// One job: the record headers that carry an MQTT 5.0 PUBLISH's properties into the log (and from
// there to the upstream Kafka and the readers, which keep headers as stored). Names in
// docs/mapping.md. A 3.1.1 publish has no properties, so no such headers.
//
// [MQTT-3.3.2-3.2 .. 3.3.2-3.9] Of a PUBLISH's properties, these say something about the message:
// Payload Format Indicator, Message Expiry Interval, Content Type, Response Topic, Correlation Data,
// User Property. Topic Alias and Subscription Identifier are about the connection: not stored.
import type { RecordHeader } from '../../broker/log/record-batch.js';
import { PROPERTY_HEADERS, type PublishProperties } from '../shared/mqtt-property-headers.js';

export type { PublishProperties };

/** Which user properties are stored, and under which header names (mqtt.v5.userProperties). */
export interface UserPropertyHeaders {
  /** Prepended to a user property's name to make its header's name. */
  readonly prefix: string;
  /** The names stored; null: all. */
  readonly allow: readonly string[] | null;
}

const ONE = Buffer.from('1');
const ZERO = Buffer.from('0');

export class PropertyHeaders {
  readonly #allow: ReadonlySet<string> | null;

  constructor(private readonly users: UserPropertyHeaders) {
    this.#allow = users.allow === null ? null : new Set(users.allow);
  }

  /** The headers for `properties`, in a fixed order (user properties last, in the order sent); empty for none. */
  of(properties: PublishProperties | undefined): RecordHeader[] {
    if (properties === undefined) return [];
    const headers: RecordHeader[] = [];
    if (properties.payloadFormatIndicator !== undefined) headers.push([PROPERTY_HEADERS.payloadFormat, properties.payloadFormatIndicator ? ONE : ZERO]);
    if (properties.messageExpiryInterval !== undefined) headers.push([PROPERTY_HEADERS.messageExpiry, Buffer.from(String(properties.messageExpiryInterval))]);
    if (properties.contentType !== undefined) headers.push([PROPERTY_HEADERS.contentType, Buffer.from(properties.contentType)]);
    if (properties.responseTopic !== undefined) headers.push([PROPERTY_HEADERS.responseTopic, Buffer.from(properties.responseTopic)]);
    if (properties.correlationData !== undefined) headers.push([PROPERTY_HEADERS.correlationData, properties.correlationData]);
    for (const [name, value] of Object.entries(properties.userProperties ?? {})) {
      if (this.#allow !== null && !this.#allow.has(name)) continue;
      // [MQTT-3.3.2-18] a name may appear more than once: one header each, in order.
      for (const one of Array.isArray(value) ? value : [value]) headers.push([this.users.prefix + name, Buffer.from(one)]);
    }
    return headers;
  }
}
