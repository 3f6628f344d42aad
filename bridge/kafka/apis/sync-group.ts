// SyncGroup (key 14), versions 0-5: after a join, the leader sends every member's assignment and
// each member receives its own (SyncGroupRequest.json / SyncGroupResponse.json). Flexible from v4.
//
//   SyncGroup Request => group_id generation_id member_id group_instance_id protocol_type
//                        protocol_name [assignments] TAG_BUFFER
//     group_id => STRING, generation_id => INT32, member_id => STRING
//     group_instance_id => NULLABLE_STRING (v3+)
//     protocol_type => NULLABLE_STRING     (v5+)
//     protocol_name => NULLABLE_STRING     (v5+)
//     assignments => member_id assignment TAG_BUFFER    (the leader's request only)
//       member_id => STRING, assignment => BYTES
//
//   SyncGroup Response => throttle_time_ms error_code protocol_type protocol_name assignment TAG_BUFFER
//     throttle_time_ms => INT32            (v1+)
//     error_code => INT16
//     protocol_type => NULLABLE_STRING     (v5+)
//     protocol_name => NULLABLE_STRING     (v5+)
//     assignment => BYTES
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { coordinatorError, readBytes, writeBytes } from './group-fields.js';

export const syncGroup: ApiHandler = {
  key: 14,
  name: 'SyncGroup',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 4,
  async handle(request: Reader, version: number, context: RequestContext): Promise<Writer> {
    const flexible = isFlexible(this, version);
    const groupId = request.string(flexible);
    const generationId = request.int32();
    const memberId = request.string(flexible);
    if (version >= 3) request.nullableString(flexible);
    const protocolType = version >= 5 ? request.nullableString(flexible) : null;
    const protocolName = version >= 5 ? request.nullableString(flexible) : null;
    const assignments = new Map<string, Buffer>();
    request.array(flexible, (r) => {
      const member = r.string(flexible);
      assignments.set(member, readBytes(r, flexible));
      if (flexible) r.taggedFields();
    });
    if (flexible) request.taggedFields();

    const notHere = coordinatorError(context);
    const result =
      notHere !== 0
        ? { error: notHere, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) }
        : await context.groups.sync(groupId, memberId, generationId, protocolType, protocolName, assignments);
    const w = new Writer();
    if (version >= 1) w.int32(0);
    w.int16(result.error);
    if (version >= 5) w.string(result.protocolType, flexible).string(result.protocolName, flexible);
    writeBytes(w, result.assignment, flexible);
    if (flexible) w.taggedFields();
    return w;
  },
};
