// ListGroups (key 16), versions 0-5: the groups this node coordinates, with members or with
// committed offsets only (Empty) (ListGroupsRequest.json / ListGroupsResponse.json). Flexible from v3.
//
//   ListGroups Request => [states_filter] [types_filter] TAG_BUFFER
//     states_filter => STRING              (v4+; empty: all)
//     types_filter => STRING               (v5+; every group here is "classic")
//
//   ListGroups Response => throttle_time_ms error_code [groups] TAG_BUFFER
//     throttle_time_ms => INT32            (v1+)
//     groups => group_id protocol_type group_state group_type TAG_BUFFER
//       group_state => STRING              (v4+)
//       group_type => STRING               (v5+)
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { coordinatorError } from './group-fields.js';
import { GroupErrorCode } from '../groups/error-codes.js';

const GROUP_TYPE = 'classic';

export const listGroups: ApiHandler = {
  key: 16,
  name: 'ListGroups',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 3,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    const states = version >= 4 ? request.array(flexible, (r) => r.string(flexible).toLowerCase()) : [];
    const types = version >= 5 ? request.array(flexible, (r) => r.string(flexible).toLowerCase()) : [];
    if (flexible) request.taggedFields();

    // A broker lists the groups it coordinates (admin clients ask every broker and merge): a
    // follower none, and no error; during an election COORDINATOR_NOT_AVAILABLE, asked again.
    const notHere = coordinatorError(context);
    const groups = (notHere !== ErrorCode.NONE ? [] : context.groups.list())
      .filter((g) => states.length === 0 || states.includes(g.state.toLowerCase()))
      .filter(() => types.length === 0 || types.includes(GROUP_TYPE));
    const w = new Writer();
    if (version >= 1) w.int32(0);
    w.int16(notHere === GroupErrorCode.COORDINATOR_NOT_AVAILABLE ? notHere : ErrorCode.NONE);
    w.array(groups, flexible, (w, g) => {
      w.string(g.groupId, flexible).string(g.protocolType, flexible);
      if (version >= 4) w.string(g.state, flexible);
      if (version >= 5) w.string(GROUP_TYPE, flexible);
      if (flexible) w.taggedFields();
    });
    if (flexible) w.taggedFields();
    return w;
  },
};
