// Topic ids (KIP-516): the 16-byte id Metadata v10+ reports and Fetch v13+ names a topic by.
// Tributary derives it from the topic's name (SHA-256, shaped as an RFC 9562 version 8 UUID), so it
// is the same on every start and on every gateway holding the topic: a follower fetching from a
// leader (replication) and a client moving between gateways see one id per topic. Log topics are
// never deleted and re-created under the same name, which is the case name-derived ids cannot tell
// apart. Never all zeros (Kafka's "no id") and never Kafka's reserved id 1.
import { createHash } from 'node:crypto';

const ids = new Map<string, Buffer>();

export function topicId(name: string): Buffer {
  let id = ids.get(name);
  if (id === undefined) {
    id = createHash('sha256').update(`tributary topic ${name}`).digest().subarray(0, 16);
    id[6] = (id[6]! & 0x0f) | 0x80; // version 8: custom
    id[8] = (id[8]! & 0x3f) | 0x80; // variant 10
    ids.set(name, id);
  }
  return id;
}

/** The name of the topic among `names` whose id is `id`, or null. */
export function topicNameById(names: Iterable<string>, id: Buffer): string | null {
  for (const name of names) if (topicId(name).equals(id)) return name;
  return null;
}

/** Kafka's textual form of a topic id (URL-safe base64 without padding), for log lines. */
export function topicIdText(id: Buffer): string {
  return id.toString('base64url');
}
