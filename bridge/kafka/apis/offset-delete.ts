// OffsetDelete (key 47), version 0 (KIP-496): deletes a group's committed offsets of some
// partitions (OffsetDeleteRequest.json / OffsetDeleteResponse.json; ../groups/coordinator.ts). Not
// flexible. What `kafka-consumer-groups.sh --delete-offsets --group G --topic T[:P,...]` sends.
//
//   OffsetDelete Request => group_id [topics]
//     group_id => STRING
//     topics => name [partitions]
//       partitions => partition_index INT32
//
//   OffsetDelete Response => error_code throttle_time_ms [topics]
//     error_code => INT16                   (the group's: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, ...;
//                                            then no topics are answered, as Kafka)
//     throttle_time_ms => INT32
//     topics => name [partitions]
//       partitions => partition_index error_code
//
// While the group is Empty every partition asked is deleted; while it has members, only those of
// topics no member subscribes to (GROUP_SUBSCRIBED_TO_TOPIC, 86, for the others), as Kafka.
// kafka.acl: each topic needs the read grant, as OffsetCommit (TOPIC_AUTHORIZATION_FAILED, 29).
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import type { ApiHandler, RequestContext } from './api.js';
import { coordinatorError } from './group-fields.js';

export const offsetDelete: ApiHandler = {
  key: 47,
  name: 'OffsetDelete',
  minVersion: 0,
  maxVersion: 0,
  flexibleFrom: Number.POSITIVE_INFINITY,
  handle(request: Reader, _version: number, context: RequestContext): Writer {
    const groupId = request.string(false);
    const topics = request.array(false, (r) => ({ name: r.string(false), partitions: r.array(false, (r) => r.int32()) }));

    const asked = topics.flatMap((t) => t.partitions.map((partition) => ({ topic: t.name, partition })));
    const allowed = asked.map((p) => context.authorize('read', p.topic));
    const notHere = coordinatorError(context);
    const result = notHere !== ErrorCode.NONE ? { error: notHere, partitions: [] } : context.groups.deleteOffsets(groupId, asked.filter((_, i) => allowed[i]));
    let k = 0;
    const errors = allowed.map((ok) => (ok ? result.partitions[k++]! : ErrorCode.TOPIC_AUTHORIZATION_FAILED));
    const w = new Writer();
    w.int16(result.error).int32(0);
    // A group-level error answers no topics, as Kafka does.
    let i = 0;
    w.array(result.error === ErrorCode.NONE ? topics : [], false, (w, t) => {
      w.string(t.name, false);
      w.array(t.partitions, false, (w, partition) => void w.int32(partition).int16(errors[i++]!));
    });
    return w;
  },
};
