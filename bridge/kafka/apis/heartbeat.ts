// Heartbeat (key 12), versions 0-4: a member says it is alive; the answer tells it whether a
// rebalance is under way (REBALANCE_IN_PROGRESS: join again) or whether it is no longer a member
// (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION) (HeartbeatRequest.json / HeartbeatResponse.json).
// Flexible from v4.
//
//   Heartbeat Request => group_id generation_id member_id group_instance_id TAG_BUFFER
//     group_id => STRING, generation_id => INT32, member_id => STRING
//     group_instance_id => NULLABLE_STRING (v3+)
//
//   Heartbeat Response => throttle_time_ms error_code TAG_BUFFER
//     throttle_time_ms => INT32            (v1+)
//     error_code => INT16
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { coordinatorError } from './group-fields.js';

export const heartbeat: ApiHandler = {
  key: 12,
  name: 'Heartbeat',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 4,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    const groupId = request.string(flexible);
    const generationId = request.int32();
    const memberId = request.string(flexible);
    if (version >= 3) request.nullableString(flexible);
    if (flexible) request.taggedFields();

    const w = new Writer();
    if (version >= 1) w.int32(0);
    const notHere = coordinatorError(context);
    w.int16(notHere !== 0 ? notHere : context.groups.heartbeat(groupId, memberId, generationId));
    if (flexible) w.taggedFields();
    return w;
  },
};
