// OffsetFetch (key 9), versions 0-9: a group's committed offsets, read from the cursor store
// (OffsetFetchRequest.json / OffsetFetchResponse.json). Flexible from v6; from v8 several groups
// per request (KIP-709).
//
//   OffsetFetch Request (v0-v7) => group_id [topics] require_stable TAG_BUFFER
//     topics => name [partition_indexes] TAG_BUFFER   (NULLABLE from v2: null asks for every offset)
//       partition_indexes => INT32
//     require_stable => BOOL               (v7+; no transactions here, every offset is stable)
//   OffsetFetch Request (v8+) => [groups] require_stable TAG_BUFFER
//     groups => group_id member_id member_epoch [topics] TAG_BUFFER
//       member_id => NULLABLE_STRING, member_epoch => INT32   (v9+; the consumer protocol's, unused)
//       topics => name [partition_indexes] TAG_BUFFER         (NULLABLE)
//
//   OffsetFetch Response (v0-v7) => throttle_time_ms [topics] error_code TAG_BUFFER
//     throttle_time_ms => INT32            (v3+)
//     topics => name [partitions] TAG_BUFFER
//       partitions => partition_index committed_offset committed_leader_epoch metadata error_code TAG_BUFFER
//         partition_index => INT32, committed_offset => INT64 (-1: none)
//         committed_leader_epoch => INT32  (v5+; -1: not stored)
//         metadata => NULLABLE_STRING      ("": not stored), error_code => INT16
//     error_code => INT16                  (v2+)
//   OffsetFetch Response (v8+) => throttle_time_ms [groups] TAG_BUFFER
//     groups => group_id [topics] error_code TAG_BUFFER   (topics as above, leader epoch always present)
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { coordinatorError } from './group-fields.js';

interface Asked {
  groupId: string;
  /** null: every committed offset of the group. */
  topics: Array<{ name: string; partitions: number[] }> | null;
}

interface Answered {
  groupId: string;
  /** The group's error (v2+; v0-v1 carry it in each partition): not the coordinator. */
  error: number;
  topics: Array<{ name: string; partitions: Array<{ partition: number; offset: number; error: number }> }>;
}

export const offsetFetch: ApiHandler = {
  key: 9,
  name: 'OffsetFetch',
  minVersion: 0,
  maxVersion: 9,
  flexibleFrom: 6,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    const readTopics = (r: Reader): Asked['topics'] =>
      r.nullableArray(flexible, (r) => {
        const name = r.string(flexible);
        const partitions = r.array(flexible, (r) => r.int32());
        if (flexible) r.taggedFields();
        return { name, partitions };
      });
    let asked: Asked[];
    if (version <= 7) {
      const groupId = request.string(flexible);
      asked = [{ groupId, topics: readTopics(request) }];
    } else {
      asked = request.array(flexible, (r) => {
        const groupId = r.string(flexible);
        if (version >= 9) {
          r.nullableString(flexible);
          r.int32();
        }
        const topics = readTopics(r);
        if (flexible) r.taggedFields();
        return { groupId, topics };
      });
    }
    if (version >= 7) request.bool();
    if (flexible) request.taggedFields();

    const notHere = coordinatorError(context);
    const answers = asked.map((a) => (notHere === ErrorCode.NONE ? lookUp(context, a) : notCoordinator(a, notHere, version)));
    const w = new Writer();
    if (version >= 3) w.int32(0);
    if (version <= 7) {
      writeTopics(w, answers[0]!, version, flexible);
      if (version >= 2) w.int16(answers[0]!.error);
    } else {
      w.array(answers, flexible, (w, a) => {
        w.string(a.groupId, flexible);
        writeTopics(w, a, version, flexible);
        w.int16(a.error);
        w.taggedFields();
      });
    }
    if (flexible) w.taggedFields();
    return w;
  },
};

/**
 * A node that does not coordinate groups answers as Kafka: v2+ the group's error and no topics;
 * v0-v1 (no group error) the error in each partition asked for.
 */
function notCoordinator(asked: Asked, error: number, version: number): Answered {
  if (version >= 2 || asked.topics === null) return { groupId: asked.groupId, error, topics: [] };
  return { groupId: asked.groupId, error, topics: asked.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((partition) => ({ partition, offset: -1, error })) })) };
}

/**
 * The committed offsets asked for. kafka.acl: a topic the principal may not read is answered
 * TOPIC_AUTHORIZATION_FAILED when named, and left out of "every offset of the group" (as Kafka).
 */
function lookUp(context: RequestContext, asked: Asked): Answered {
  const groups = context.groups;
  if (asked.topics === null) {
    const byTopic = new Map<string, Array<{ partition: number; offset: number; error: number }>>();
    for (const c of groups.allCommitted(asked.groupId)) {
      if (!context.authorize('read', c.topic)) continue;
      const list = byTopic.get(c.topic) ?? [];
      list.push({ partition: c.partition, offset: c.offset, error: ErrorCode.NONE });
      byTopic.set(c.topic, list);
    }
    return { groupId: asked.groupId, error: ErrorCode.NONE, topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })) };
  }
  return {
    groupId: asked.groupId,
    error: ErrorCode.NONE,
    topics: asked.topics.map((t) => {
      const allowed = context.authorize('read', t.name);
      return {
        name: t.name,
        partitions: t.partitions.map((partition) =>
          allowed ? { partition, offset: groups.committed(asked.groupId, t.name, partition), error: ErrorCode.NONE } : { partition, offset: -1, error: ErrorCode.TOPIC_AUTHORIZATION_FAILED },
        ),
      };
    }),
  };
}

function writeTopics(w: Writer, answer: Answered, version: number, flexible: boolean): void {
  w.array(answer.topics, flexible, (w, t) => {
    w.string(t.name, flexible);
    w.array(t.partitions, flexible, (w, p) => {
      w.int32(p.partition).int64(p.offset);
      if (version >= 5) w.int32(-1);
      w.string('', flexible).int16(p.error);
      if (flexible) w.taggedFields();
    });
    if (flexible) w.taggedFields();
  });
}
