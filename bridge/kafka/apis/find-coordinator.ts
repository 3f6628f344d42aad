// FindCoordinator (key 10), versions 0-6: which broker coordinates a group (or a transactional
// id): always this node, the only broker (FindCoordinatorRequest.json / FindCoordinatorResponse.json).
// Flexible from v3; from v4 several keys per request (KIP-699).
//
//   FindCoordinator Request (v0-v3) => key key_type TAG_BUFFER
//   FindCoordinator Request (v4+) => key_type [coordinator_keys] TAG_BUFFER
//     key => STRING
//     key_type => INT8                  (v1+; 0 group, 1 transaction, 2 share group)
//     coordinator_keys => STRING
//
//   FindCoordinator Response (v0-v3) => throttle_time_ms error_code error_message node_id host port TAG_BUFFER
//     throttle_time_ms => INT32         (v1+)
//     error_message => NULLABLE_STRING  (v1+)
//   FindCoordinator Response (v4+) => throttle_time_ms [coordinators] TAG_BUFFER
//     coordinators => key node_id host port error_code error_message TAG_BUFFER
//
// Key types 0 and 1 are answered with this node; another type (share groups, KIP-932) gets
// INVALID_REQUEST with a message.
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';

const GROUP = 0;
const TRANSACTION = 1;

interface Coordinator {
  key: string;
  error: number;
  message: string | null;
}

export const findCoordinator: ApiHandler = {
  key: 10,
  name: 'FindCoordinator',
  minVersion: 0,
  maxVersion: 6,
  flexibleFrom: 3,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    const single = version <= 3 ? request.string(flexible) : null;
    const keyType = version >= 1 ? request.int8() : GROUP;
    const keys = single === null ? request.array(flexible, (r) => r.string(flexible)) : [single];
    if (flexible) request.taggedFields();

    const served = keyType === GROUP || keyType === TRANSACTION;
    const answers: Coordinator[] = keys.map((key) => (served ? { key, error: ErrorCode.NONE, message: null } : { key, error: ErrorCode.INVALID_REQUEST, message: `coordinator key type ${keyType} is not served` }));
    const { nodeId, host, port } = context.broker;
    const w = new Writer();
    if (version >= 1) w.int32(0);
    if (version <= 3) {
      const a = answers[0]!;
      w.int16(a.error);
      if (version >= 1) w.string(a.message, flexible);
      w.int32(served ? nodeId : -1).string(served ? host : '', flexible).int32(served ? port : -1);
    } else {
      w.array(answers, flexible, (w, a) => {
        w.string(a.key, flexible).int32(served ? nodeId : -1).string(served ? host : '', flexible).int32(served ? port : -1).int16(a.error).string(a.message, flexible);
        w.taggedFields();
      });
    }
    if (flexible) w.taggedFields();
    return w;
  },
};
