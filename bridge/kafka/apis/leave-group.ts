// LeaveGroup (key 13), versions 0-5: members leave a group, which rebalances at once instead of
// after their session timeout (LeaveGroupRequest.json / LeaveGroupResponse.json). Flexible from v4;
// from v3 several members per request, each answered (KIP-345).
//
//   LeaveGroup Request (v0-v2) => group_id member_id
//   LeaveGroup Request (v3+) => group_id [members] TAG_BUFFER
//     members => member_id group_instance_id reason TAG_BUFFER
//       member_id => STRING, group_instance_id => NULLABLE_STRING
//       reason => NULLABLE_STRING          (v5+)
//
//   LeaveGroup Response => throttle_time_ms error_code [members] TAG_BUFFER
//     throttle_time_ms => INT32            (v1+)
//     error_code => INT16
//     members => member_id group_instance_id error_code TAG_BUFFER   (v3+)
//
// A member named only by a group instance id is unknown here (static members are not served).
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { coordinatorError } from './group-fields.js';

export const leaveGroup: ApiHandler = {
  key: 13,
  name: 'LeaveGroup',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 4,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    const groupId = request.string(flexible);
    let members: Array<{ memberId: string; groupInstanceId: string | null }>;
    if (version <= 2) members = [{ memberId: request.string(flexible), groupInstanceId: null }];
    else {
      members = request.array(flexible, (r) => {
        const memberId = r.string(flexible);
        const groupInstanceId = r.nullableString(flexible);
        if (version >= 5) r.nullableString(flexible);
        if (flexible) r.taggedFields();
        return { memberId, groupInstanceId };
      });
    }
    if (flexible) request.taggedFields();

    // Not the coordinator: a group-level error and no members, as Kafka answers.
    const notHere = coordinatorError(context);
    const answers = notHere !== ErrorCode.NONE ? [] : members.map((m) => ({ ...m, error: context.groups.leave(groupId, m.memberId) }));
    const w = new Writer();
    if (version >= 1) w.int32(0);
    if (version <= 2) w.int16(notHere !== ErrorCode.NONE ? notHere : answers[0]!.error);
    else {
      w.int16(notHere);
      w.array(answers, flexible, (w, a) => {
        w.string(a.memberId, flexible).string(a.groupInstanceId, flexible).int16(a.error);
        if (flexible) w.taggedFields();
      });
    }
    if (flexible) w.taggedFields();
    return w;
  },
};
