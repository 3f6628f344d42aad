// OffsetCommit (key 8), versions 0-9: a group's consumed positions, stored durably in the cursor
// store before the answer (OffsetCommitRequest.json / OffsetCommitResponse.json; ../groups/offsets.ts).
// Flexible from v8.
//
//   OffsetCommit Request => group_id generation_id member_id group_instance_id retention_time_ms
//                           [topics] TAG_BUFFER
//     group_id => STRING
//     generation_id => INT32               (v1+; -1 with member_id "": a commit outside any generation)
//     member_id => STRING                  (v1+)
//     group_instance_id => NULLABLE_STRING (v7+)
//     retention_time_ms => INT64           (v2-v4; ignored: offsets are kept until the group is deleted)
//     topics => name [partitions] TAG_BUFFER
//       partitions => partition_index committed_offset committed_leader_epoch commit_timestamp
//                     committed_metadata TAG_BUFFER
//         partition_index => INT32, committed_offset => INT64
//         committed_leader_epoch => INT32  (v6+; not stored)
//         commit_timestamp => INT64        (v1 only; ignored)
//         committed_metadata => NULLABLE_STRING (not stored; at most 4096 bytes)
//
//   OffsetCommit Response => throttle_time_ms [topics] TAG_BUFFER
//     throttle_time_ms => INT32            (v3+)
//     topics => name [partitions] TAG_BUFFER
//       partitions => partition_index error_code TAG_BUFFER
import type { OffsetCommitEntry } from '../groups/coordinator.js';
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { coordinatorError } from './group-fields.js';

export const offsetCommit: ApiHandler = {
  key: 8,
  name: 'OffsetCommit',
  minVersion: 0,
  maxVersion: 9,
  flexibleFrom: 8,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    const groupId = request.string(flexible);
    const generationId = version >= 1 ? request.int32() : -1;
    const memberId = version >= 1 ? request.string(flexible) : '';
    if (version >= 7) request.nullableString(flexible);
    if (version >= 2 && version <= 4) request.int64();
    const topics = request.array(flexible, (r) => {
      const topic = r.string(flexible);
      const partitions = r.array(flexible, (r): OffsetCommitEntry => {
        const partition = r.int32();
        const offset = r.int64();
        if (version >= 6) r.int32();
        if (version === 1) r.int64();
        const metadata = r.nullableString(flexible);
        if (flexible) r.taggedFields();
        return { topic, partition, offset, metadata };
      });
      if (flexible) r.taggedFields();
      return { topic, partitions };
    });
    if (flexible) request.taggedFields();

    // kafka.acl: only the topics the principal may read are committed (as Kafka); the rest are
    // answered TOPIC_AUTHORIZATION_FAILED and not stored.
    // Not the coordinator (a follower, or an election): nothing is stored, every partition is answered so.
    const entries = topics.flatMap((t) => t.partitions);
    const notHere = coordinatorError(context);
    const allowed = entries.map((e) => context.authorize('read', e.topic));
    const committed = notHere !== ErrorCode.NONE ? [] : context.groups.commit(groupId, memberId, generationId, entries.filter((_, k) => allowed[k]));
    let c = 0;
    const errors = allowed.map((ok) => (!ok ? ErrorCode.TOPIC_AUTHORIZATION_FAILED : notHere !== ErrorCode.NONE ? notHere : committed[c++]!));
    let i = 0;
    const w = new Writer();
    if (version >= 3) w.int32(0);
    w.array(topics, flexible, (w, t) => {
      w.string(t.topic, flexible);
      w.array(t.partitions, flexible, (w, p) => {
        w.int32(p.partition).int16(errors[i++]!);
        if (flexible) w.taggedFields();
      });
      if (flexible) w.taggedFields();
    });
    if (flexible) w.taggedFields();
    return w;
  },
};
