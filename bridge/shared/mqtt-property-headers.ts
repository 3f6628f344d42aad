// The record headers that carry an MQTT 5.0 PUBLISH's message properties (docs/mapping.md): written
// by the front end (bridge/mqtt/property-headers.ts), read back by replay --to-mqtt
// (bridge/replay/mqtt-properties.ts). One list, so the two cannot drift apart.

/** A PUBLISH's message properties, as mqtt-packet parses them and MQTT.js sends them. */
export interface PublishProperties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
}

export const PROPERTY_HEADERS = {
  payloadFormat: 'mqtt.payload_format',
  messageExpiry: 'mqtt.message_expiry',
  contentType: 'mqtt.content_type',
  responseTopic: 'mqtt.response_topic',
  correlationData: 'mqtt.correlation_data',
} as const;
