// JoinGroup (key 11), versions 0-9: a member joins a group, or rejoins it in a rebalance; the
// answer comes once every member has joined or the rebalance timeout passed
// (JoinGroupRequest.json / JoinGroupResponse.json; the state machine is ../groups/group.ts).
// Flexible from v6.
//
//   JoinGroup Request => group_id session_timeout_ms rebalance_timeout_ms member_id group_instance_id
//                        protocol_type [protocols] reason TAG_BUFFER
//     group_id => STRING, session_timeout_ms => INT32
//     rebalance_timeout_ms => INT32        (v1+; v0: the session timeout)
//     member_id => STRING                  ("" for a new member)
//     group_instance_id => NULLABLE_STRING (v5+; static membership, KIP-345: refused with
//                                           UNSUPPORTED_VERSION and a warning)
//     protocol_type => STRING
//     protocols => name metadata TAG_BUFFER
//       name => STRING, metadata => BYTES
//     reason => NULLABLE_STRING            (v8+)
//
//   JoinGroup Response => throttle_time_ms error_code generation_id protocol_type protocol_name
//                         leader skip_assignment member_id [members] TAG_BUFFER
//     throttle_time_ms => INT32            (v2+)
//     error_code => INT16, generation_id => INT32
//     protocol_type => NULLABLE_STRING     (v7+)
//     protocol_name => STRING              (NULLABLE from v7)
//     leader => STRING
//     skip_assignment => BOOL              (v9+; always false: static members are not served)
//     member_id => STRING
//     members => member_id group_instance_id metadata TAG_BUFFER   (the leader's answer only)
//       group_instance_id => NULLABLE_STRING (v5+)
//
// v4+: a member without an id gets MEMBER_ID_REQUIRED and an id to join with (KIP-394).
import type { JoinResult } from '../groups/group.js';
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { clientHostOf, coordinatorError, readBytes, writeBytes } from './group-fields.js';

export const joinGroup: ApiHandler = {
  key: 11,
  name: 'JoinGroup',
  minVersion: 0,
  maxVersion: 9,
  flexibleFrom: 6,
  async handle(request: Reader, version: number, context: RequestContext): Promise<Writer> {
    const flexible = isFlexible(this, version);
    const groupId = request.string(flexible);
    const sessionTimeoutMs = request.int32();
    const rebalanceTimeoutMs = version >= 1 ? request.int32() : sessionTimeoutMs;
    const memberId = request.string(flexible);
    const groupInstanceId = version >= 5 ? request.nullableString(flexible) : null;
    const protocolType = request.string(flexible);
    const protocols = request.array(flexible, (r) => {
      const name = r.string(flexible);
      const metadata = readBytes(r, flexible);
      if (flexible) r.taggedFields();
      return { name, metadata };
    });
    if (version >= 8) request.nullableString(flexible);
    if (flexible) request.taggedFields();

    let result: JoinResult;
    const notHere = coordinatorError(context);
    if (notHere !== ErrorCode.NONE) {
      result = { error: notHere, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, members: [] };
    } else if (groupInstanceId !== null) {
      // Static membership (KIP-345) is not served: a clear refusal, never a silent dynamic member.
      context.logger.warn({ group: groupId, groupInstanceId, clientId: context.clientId }, 'Kafka JoinGroup with group.instance.id refused: static membership is not supported');
      result = { error: ErrorCode.UNSUPPORTED_VERSION, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, members: [] };
    } else {
      result = await context.groups.join(groupId, {
        memberId,
        clientId: context.clientId ?? '',
        clientHost: clientHostOf(context),
        sessionTimeoutMs,
        rebalanceTimeoutMs,
        protocolType,
        protocols,
        requireKnownMemberId: version >= 4,
      });
    }

    const w = new Writer();
    if (version >= 2) w.int32(0);
    w.int16(result.error).int32(result.generationId);
    if (version >= 7) w.string(result.protocolType, flexible);
    w.string(version >= 7 ? result.protocolName : (result.protocolName ?? ''), flexible);
    w.string(result.leader, flexible);
    if (version >= 9) w.bool(false);
    w.string(result.memberId, flexible);
    w.array(result.members, flexible, (w, m) => {
      w.string(m.memberId, flexible);
      if (version >= 5) w.string(null, flexible);
      writeBytes(w, m.metadata, flexible);
      if (flexible) w.taggedFields();
    });
    if (flexible) w.taggedFields();
    return w;
  },
};
