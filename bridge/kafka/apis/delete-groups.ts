// DeleteGroups (key 42), versions 0-2: deletes consumer groups that have no members, with their
// committed offsets (DeleteGroupsRequest.json / DeleteGroupsResponse.json; ../groups/coordinator.ts).
// Flexible from v2. What `kafka-consumer-groups.sh --delete --group G` sends.
//
//   DeleteGroups Request => [groups_names] TAG_BUFFER
//     groups_names => STRING
//
//   DeleteGroups Response => throttle_time_ms [results] TAG_BUFFER
//     throttle_time_ms => INT32
//     results => group_id error_code TAG_BUFFER
//       group_id => STRING, error_code => INT16
//
// Per group: NON_EMPTY_GROUP (68) while it has members, GROUP_ID_NOT_FOUND (69) when nothing of it
// is known, INVALID_GROUP_ID (24) for "". kafka.acl has no group resources: a group may be deleted
// by a principal that may read every topic it has committed offsets of (who could have committed
// them), else GROUP_AUTHORIZATION_FAILED (30), as Kafka answers a missing DELETE grant on the group.
import { GroupErrorCode } from '../groups/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { coordinatorError } from './group-fields.js';

export const deleteGroups: ApiHandler = {
  key: 42,
  name: 'DeleteGroups',
  minVersion: 0,
  maxVersion: 2,
  flexibleFrom: 2,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    const groupIds = request.array(flexible, (r) => r.string(flexible));
    if (flexible) request.taggedFields();

    const notHere = coordinatorError(context);
    const results = groupIds.map((groupId) => {
      if (notHere !== 0) return { groupId, error: notHere };
      const topics = new Set(context.groups.allCommitted(groupId).map((c) => c.topic));
      const allowed = [...topics].every((topic) => context.authorize('read', topic));
      return { groupId, error: allowed ? context.groups.deleteGroup(groupId) : GroupErrorCode.GROUP_AUTHORIZATION_FAILED };
    });
    const w = new Writer();
    w.int32(0);
    w.array(results, flexible, (w, r) => {
      w.string(r.groupId, flexible).int16(r.error);
      if (flexible) w.taggedFields();
    });
    if (flexible) w.taggedFields();
    return w;
  },
};
