// One job: the MQTT 5.0 PUBLISH properties a record's headers carry, for `replay --to-mqtt`. The
// MQTT front end stores a v5 publish's properties as headers (bridge/mqtt/property-headers.ts, names
// in docs/mapping.md#record-headers); here they become properties again. User properties are read
// under the default prefix `mqtt.user.` (a node with another mqtt.v5.userProperties.prefix stores
// them under that one, which replay does not know).
import type { RecordHeader } from '../../broker/log/record-batch.js';
import { PROPERTY_HEADERS, type PublishProperties } from '../shared/mqtt-property-headers.js';

/** MQTT.js's PUBLISH properties, as far as headers carry them. */
export type ReplayedProperties = PublishProperties;

const USER_PREFIX = 'mqtt.user.';

/** The properties in `headers`, or undefined when they carry none (a 3.1.1 publish's record, or a Kafka producer's). */
export function propertiesOf(headers: readonly RecordHeader[]): ReplayedProperties | undefined {
  const properties: ReplayedProperties = {};
  for (const [name, value] of headers) {
    if (value === null) continue;
    if (name === PROPERTY_HEADERS.payloadFormat) properties.payloadFormatIndicator = value.toString() === '1';
    else if (name === PROPERTY_HEADERS.messageExpiry && /^\d+$/.test(value.toString())) properties.messageExpiryInterval = Number(value.toString());
    else if (name === PROPERTY_HEADERS.contentType) properties.contentType = value.toString('utf8');
    else if (name === PROPERTY_HEADERS.responseTopic) properties.responseTopic = value.toString('utf8');
    else if (name === PROPERTY_HEADERS.correlationData) properties.correlationData = Buffer.from(value);
    else if (name.startsWith(USER_PREFIX)) addUserProperty(properties, name.slice(USER_PREFIX.length), value.toString('utf8'));
  }
  return Object.keys(properties).length > 0 ? properties : undefined;
}

/** [MQTT-3.3.2-18] a name may come more than once: kept in order, as MQTT.js takes them (an array). */
function addUserProperty(properties: ReplayedProperties, name: string, value: string): void {
  const users = (properties.userProperties ??= {});
  const seen = users[name];
  users[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
}
