// FindCoordinator (key 10), versions 0-6: which broker coordinates a group (or a transactional
// id): this node, the only broker; with replication the cluster's leader, on every node, or
// COORDINATOR_NOT_AVAILABLE during an election (FindCoordinatorRequest.json / FindCoordinatorResponse.json).
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
// Key types 0 and 1 are answered with the coordinator; another type (share groups, KIP-932) gets
// INVALID_REQUEST with a message.
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { clusterMetadata, type KafkaBroker } from '../cluster-view.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';

const GROUP = 0;
const TRANSACTION = 1;

interface Coordinator {
  key: string;
  error: number;
  message: string | null;
}

/**
 * The coordinator of every group and transaction: this node, or with replication the cluster's
 * leader, whose committed offsets replicate to the others (docs/replication.md, "State beside the
 * records"); a follower's would stay on the follower. null: no leader with a Kafka address known.
 */
function coordinatorOf(context: RequestContext): KafkaBroker | null {
  const { broker } = context;
  if (broker.cluster === undefined) return broker;
  const view = clusterMetadata(broker.cluster, broker);
  return view.brokers.find((b) => b.nodeId === view.leader) ?? null;
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

    const known = keyType === GROUP || keyType === TRANSACTION;
    const coordinator = coordinatorOf(context);
    const served = known && coordinator !== null;
    const answers: Coordinator[] = keys.map((key) =>
      !known
        ? { key, error: ErrorCode.INVALID_REQUEST, message: `coordinator key type ${keyType} is not served` }
        : coordinator === null
          ? { key, error: ErrorCode.COORDINATOR_NOT_AVAILABLE, message: 'no cluster leader is known now' }
          : { key, error: ErrorCode.NONE, message: null },
    );
    const { nodeId, host, port } = coordinator ?? context.broker;
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
