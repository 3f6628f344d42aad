// Wiring for the composition root: the replication node's view as the Kafka endpoint needs it
// (bridge/kafka/cluster-view.ts). Here rather than in either part: bridge/cluster/ and
// bridge/kafka/ do not import each other's internals.
import type { ClusterNode } from './cluster/cluster-node.js';
import type { Config } from './config/schema.js';
import type { KafkaClusterView } from './kafka/cluster-view.js';

export function kafkaClusterView(config: NonNullable<Config['cluster']>, node: ClusterNode): KafkaClusterView {
  return {
    selfId: config.nodeId,
    // A witness holds no records: no Kafka replica (docs/replication.md, The witness).
    members: config.peers.filter((p) => !p.witness).map((p) => ({ id: p.id, kafka: p.kafka })),
    leaderId: () => node.leaderId,
    inSync: () => {
      const status = node.status();
      if (status.role !== 'leader') return status.leaderId === null ? [status.nodeId] : [status.leaderId, status.nodeId];
      // The node's in-sync set (Kafka's rule, bridge/shared/cluster-status.ts), as its under-replicated count uses it; a witness holds no records.
      const current = status.followers.filter((f) => f.inSync && !f.witness);
      return [status.nodeId, ...current.map((f) => f.id)];
    },
  };
}
