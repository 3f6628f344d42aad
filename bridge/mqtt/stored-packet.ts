// How the session store keeps an aedes packet in SQLite: the payload as a BLOB and every other
// field as JSON. aedes compares packets field by field, so keys whose value is `undefined` and
// Buffers in other fields (MQTT 5 properties) come back exactly as they went in.

/** An aedes packet as the persistence sees it (aedes-packet's fields and whatever else it carries). */
export interface StoredPacket {
  cmd?: string;
  topic: string;
  payload: Buffer;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  clientId?: string;
  [field: string]: unknown;
}

const UNDEFINED = { $undefined: true };

/**
 * [packet JSON, payload bytes]. A Buffer payload goes in the BLOB; a string payload (packets made
 * inside the broker) or none at all (PUBREL) stays in the JSON, so it comes back as it was.
 */
export function toRow(packet: StoredPacket): [string, Buffer | null] {
  const { payload, ...fields } = packet;
  const binary = Buffer.isBuffer(payload);
  const json = JSON.stringify(binary ? fields : packet, (_key, value: unknown) => (value === undefined ? UNDEFINED : value));
  return [json, binary ? payload : null];
}

export function fromRow(json: string, payload: Buffer | null): StoredPacket {
  const fields = JSON.parse(json, (_key, value: unknown) => {
    if (isBufferJson(value)) return Buffer.from(value.data);
    return value;
  }) as Record<string, unknown>;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== null && typeof value === 'object' && (value as { $undefined?: boolean }).$undefined === true) fields[key] = undefined;
  }
  return (payload === null ? fields : { ...fields, payload }) as StoredPacket;
}

function isBufferJson(value: unknown): value is { type: 'Buffer'; data: number[] } {
  return value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data);
}
