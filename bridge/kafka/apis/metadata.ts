// Metadata (key 3), versions 0-12: the one broker (this node) and the log's topics, each partition
// led by it (MetadataRequest.json / MetadataResponse.json). Flexible from v9. With replication
// (../cluster-view.ts): every node with a known Kafka address is a broker, and the cluster's leader
// leads every partition, so a client given any node's address produces to the leader and, after a
// NOT_LEADER_OR_FOLLOWER or a lost connection, finds the next one here; no known leader (an
// election) is LEADER_NOT_AVAILABLE per partition, which clients retry.
//
//   Metadata Request => [topics] allow_auto_topic_creation include_cluster_authorized_operations
//                       include_topic_authorized_operations TAG_BUFFER
//     topics => topic_id name TAG_BUFFER            (null array, v1+: all topics; v0: empty = all)
//       topic_id => UUID                   (v10+)
//       name => STRING                     (nullable from v10: a topic named by id only)
//     allow_auto_topic_creation => BOOLEAN (v4+; ignored: topics are created by config and mapping)
//     include_cluster_authorized_operations => BOOLEAN (v8-v10)
//     include_topic_authorized_operations => BOOLEAN   (v8+)
//
//   Metadata Response => throttle_time_ms [brokers] cluster_id controller_id [topics]
//                        cluster_authorized_operations TAG_BUFFER
//     throttle_time_ms => INT32            (v3+)
//     brokers => node_id host port rack TAG_BUFFER
//       node_id => INT32, host => STRING, port => INT32, rack => NULLABLE_STRING (v1+)
//     cluster_id => NULLABLE_STRING        (v2+)
//     controller_id => INT32               (v1+)
//     topics => error_code name topic_id is_internal [partitions] topic_authorized_operations TAG_BUFFER
//       error_code => INT16, name => STRING (nullable v12+), topic_id => UUID (v10+),
//       is_internal => BOOLEAN (v1+)
//       partitions => error_code partition_index leader_id leader_epoch [replica_nodes] [isr_nodes]
//                     [offline_replicas] TAG_BUFFER
//         error_code => INT16, partition_index => INT32, leader_id => INT32,
//         leader_epoch => INT32 (v7+), replica_nodes, isr_nodes => [INT32],
//         offline_replicas => [INT32] (v5+)
//       topic_authorized_operations => INT32 (v8+)
//     cluster_authorized_operations => INT32 (v8-v10)
import { isTopicName } from '../../../broker/log/topic-name.js';
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { clusterMetadata, type ClusterMetadata } from '../cluster-view.js';
import { topicId, topicNameById } from '../topic-ids.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';

/** "Authorized operations were not asked for" (Kafka's default for these fields). */
const OPERATIONS_OMITTED = -2147483648;
const ZERO_ID = Buffer.alloc(16);
const INVALID_TOPIC = 17; // INVALID_TOPIC_EXCEPTION

interface TopicAnswer {
  error: number;
  name: string | null;
  id: Buffer;
  partitions: Array<{ index: number; leaderEpoch: number }>;
}

export const metadata: ApiHandler = {
  key: 3,
  name: 'Metadata',
  minVersion: 0,
  maxVersion: 12,
  flexibleFrom: 9,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    const asked = request.nullableArray(flexible, (r) => {
      const id = version >= 10 ? r.uuid() : ZERO_ID;
      const name = version >= 10 ? r.nullableString(flexible) : r.string(flexible);
      if (flexible) r.taggedFields();
      return { id, name };
    });
    if (version >= 4) request.bool();
    if (version >= 8 && version <= 10) request.bool();
    if (version >= 8) request.bool();
    if (flexible) request.taggedFields();

    const all = asked === null || (version === 0 && asked.length === 0);
    const names = context.log.topics().map((t) => t.name);
    // kafka.acl, as Kafka's broker does: a listing of all topics leaves out those the client may
    // neither read nor write; a topic asked by name is answered TOPIC_AUTHORIZATION_FAILED.
    const visible = (name: string): boolean => context.authorize('read', name) || context.authorize('write', name);
    const topics = all ? names.filter(visible).map((name) => describe(context, name)) : asked.map(({ id, name }) => lookUp(context, names, id, name, visible));
    return writeMetadata(new Writer(), version, flexible, context, topics);
  },
};

function lookUp(context: RequestContext, names: readonly string[], id: Buffer, name: string | null, visible: (name: string) => boolean): TopicAnswer {
  if (name === null) {
    const found = id.equals(ZERO_ID) ? null : topicNameById(names, id);
    if (found !== null && !visible(found)) return { error: ErrorCode.TOPIC_AUTHORIZATION_FAILED, name: null, id, partitions: [] };
    return found === null ? { error: ErrorCode.UNKNOWN_TOPIC_ID, name: null, id, partitions: [] } : describe(context, found);
  }
  if (!isTopicName(name)) return { error: INVALID_TOPIC, name, id: ZERO_ID, partitions: [] };
  // Before the existence check: a refused client cannot tell a topic that exists from one that does not.
  if (!visible(name)) return { error: ErrorCode.TOPIC_AUTHORIZATION_FAILED, name, id: ZERO_ID, partitions: [] };
  // Topics come from the config and the MQTT mapping; a Kafka client does not create them.
  if (!names.includes(name)) return { error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, id: ZERO_ID, partitions: [] };
  return describe(context, name);
}

function describe(context: RequestContext, name: string): TopicAnswer {
  const count = context.log.partitionCount(name);
  const partitions = Array.from({ length: count }, (_, index) => ({ index, leaderEpoch: context.log.currentLeaderEpoch(name, index) }));
  return { error: ErrorCode.NONE, name, id: topicId(name), partitions };
}

function writeMetadata(w: Writer, version: number, flexible: boolean, context: RequestContext, topics: readonly TopicAnswer[]): Writer {
  const { broker } = context;
  const view: ClusterMetadata =
    broker.cluster === undefined
      ? { brokers: [broker], leader: broker.nodeId, replicas: [broker.nodeId], isr: [broker.nodeId] }
      : clusterMetadata(broker.cluster, broker);
  const partitionError = view.leader === -1 ? ErrorCode.LEADER_NOT_AVAILABLE : ErrorCode.NONE;
  if (version >= 3) w.int32(0);
  w.array(view.brokers, flexible, (w, b) => {
    w.int32(b.nodeId).string(b.host, flexible).int32(b.port);
    if (version >= 1) w.string(null, flexible);
    if (flexible) w.taggedFields();
  });
  if (version >= 2) w.string(broker.clusterId, flexible);
  // The controller: the cluster's leader (Kafka's clients only use it for admin requests).
  if (version >= 1) w.int32(view.leader);
  w.array(topics, flexible, (w, t) => {
    w.int16(t.error);
    // A name is null only in v12+, for a topic asked by an id we do not know.
    w.string(t.name ?? (version >= 12 ? null : ''), flexible);
    if (version >= 10) w.uuid(t.id);
    if (version >= 1) w.bool(false);
    w.array(t.partitions, flexible, (w, p) => {
      w.int16(partitionError).int32(p.index).int32(view.leader);
      if (version >= 7) w.int32(p.leaderEpoch);
      w.array(view.replicas, flexible, (w, id) => w.int32(id));
      w.array(view.isr, flexible, (w, id) => w.int32(id));
      if (version >= 5) w.array([], flexible, () => undefined);
      if (flexible) w.taggedFields();
    });
    if (version >= 8) w.int32(OPERATIONS_OMITTED);
    if (flexible) w.taggedFields();
  });
  if (version >= 8 && version <= 10) w.int32(OPERATIONS_OMITTED);
  if (flexible) w.taggedFields();
  return w;
}
