// Retained messages, replicated (docs/replication.md, "State beside the records"): each retained
// message the leader's MQTT broker sets or clears [MQTT-3.3.1-5, MQTT-3.3.1-10] becomes a record
// of `__tributary_retained`, key the MQTT topic, value the packet (below) or null when cleared;
// followers apply them to their own session store (mqtt.db), so a subscriber of a new leader gets
// the retained messages set on the old one [MQTT-3.3.1-6]. The packet is given structurally:
// replication does not import the MQTT front end (docs/architecture.md, rules between parts).
import type { ReplicatedState, StateRecord } from './replicated-state.js';

export const RETAINED_TOPIC = '__tributary_retained';

/** A retained packet as the MQTT session store keeps it. */
export interface RetainedPacket {
  topic: string;
  payload: Buffer | string;
  [field: string]: unknown;
}

/** Where a node's retained messages live (the MQTT front end's session store). */
export interface RetainedStore {
  apply(topic: string, packet: RetainedPacket | null): void;
  list(): Array<[string, RetainedPacket]>;
}

// Value: u32 length of the JSON | JSON {"fields": the packet without its payload (Buffers as
// {"type":"Buffer","data"}), "undefined": [keys whose value is undefined], "text": payload is a
// string} | the payload's bytes.
export function encodeRetained(topic: string, packet: RetainedPacket | null): StateRecord {
  if (packet === null) return { key: Buffer.from(topic), value: null };
  const { payload, ...fields } = packet;
  const json = Buffer.from(JSON.stringify({ fields, undefined: Object.keys(fields).filter((k) => fields[k] === undefined), text: typeof payload === 'string' }));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(json.length);
  return { key: Buffer.from(topic), value: Buffer.concat([head, json, Buffer.from(payload)]) };
}

export function decodeRetained(record: StateRecord): { topic: string; packet: RetainedPacket | null } {
  const topic = record.key.toString();
  if (record.value === null) return { topic, packet: null };
  const length = record.value.readUInt32BE(0);
  const meta = JSON.parse(record.value.subarray(4, 4 + length).toString(), (_k, v: unknown) =>
    v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data) ? Buffer.from((v as { data: number[] }).data) : v,
  ) as { fields: Record<string, unknown>; undefined: string[]; text: boolean };
  const bytes = Buffer.from(record.value.subarray(4 + length));
  const fields = meta.fields;
  for (const key of meta.undefined) fields[key] = undefined;
  return { topic, packet: { ...fields, topic, payload: meta.text ? bytes.toString() : bytes } };
}

/** The callback the MQTT front end calls when a client sets or clears a retained message. */
export function retainedWriter(state: ReplicatedState): (topic: string, packet: RetainedPacket | null) => void {
  return (topic, packet) => void state.write(RETAINED_TOPIC, [encodeRetained(topic, packet)]);
}

/** Followers apply the leader's retained messages to `store`; a new leader writes its own again. */
export function replicateRetained(state: ReplicatedState, store: RetainedStore): void {
  state.register(RETAINED_TOPIC, {
    apply: (records) => {
      for (const record of records) {
        const { topic, packet } = decodeRetained(record);
        store.apply(topic, packet);
      }
    },
    snapshot: () => store.list().map(([topic, packet]) => encodeRetained(topic, packet)),
  });
}
