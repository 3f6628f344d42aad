// DescribeGroups (key 15), versions 0-5: a group's state, protocol and members
// (DescribeGroupsRequest.json / DescribeGroupsResponse.json). Flexible from v5. A group this node
// does not know is "Dead" with no error, as Kafka answers these versions; one known only by its
// committed offsets is "Empty".
//
//   DescribeGroups Request => [groups] include_authorized_operations TAG_BUFFER
//     groups => STRING
//     include_authorized_operations => BOOL (v3+)
//
//   DescribeGroups Response => throttle_time_ms [groups] TAG_BUFFER
//     throttle_time_ms => INT32            (v1+)
//     groups => error_code group_id group_state protocol_type protocol_data [members]
//               authorized_operations TAG_BUFFER
//       members => member_id group_instance_id client_id client_host member_metadata
//                  member_assignment TAG_BUFFER
//         group_instance_id => NULLABLE_STRING (v4+)
//         member_metadata, member_assignment => BYTES (only while Stable, as Kafka)
//       authorized_operations => INT32     (v3+; INT32_MIN: not given, there are no ACLs yet)
import type { MemberView } from '../groups/group.js';
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { coordinatorError, writeBytes } from './group-fields.js';

const OPERATIONS_NOT_GIVEN = -2147483648;

export const describeGroups: ApiHandler = {
  key: 15,
  name: 'DescribeGroups',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 5,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    const ids = request.array(flexible, (r) => r.string(flexible));
    if (version >= 3) request.bool();
    if (flexible) request.taggedFields();

    const w = new Writer();
    if (version >= 1) w.int32(0);
    const notHere = coordinatorError(context);
    w.array(ids, flexible, (w, id) => {
      // Not the coordinator: the group's error, its fields empty (as Kafka answers).
      const g = notHere === ErrorCode.NONE ? context.groups.describe(id) : { groupId: id, state: '', protocolType: '', protocolName: '', members: [] as MemberView[] };
      w.int16(notHere).string(g.groupId, flexible).string(g.state, flexible).string(g.protocolType, flexible).string(g.protocolName, flexible);
      w.array(g.members, flexible, (w, m) => {
        w.string(m.memberId, flexible);
        if (version >= 4) w.string(null, flexible);
        w.string(m.clientId, flexible).string(m.clientHost, flexible);
        writeBytes(w, m.metadata, flexible);
        writeBytes(w, m.assignment, flexible);
        if (flexible) w.taggedFields();
      });
      if (version >= 3) w.int32(OPERATIONS_NOT_GIVEN);
      if (flexible) w.taggedFields();
    });
    if (flexible) w.taggedFields();
    return w;
  },
};
