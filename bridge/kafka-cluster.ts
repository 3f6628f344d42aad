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
      // A follower is in sync while it fetches (within the lease) and holds everything committed.
      const current = status.followers.filter((f) => !f.witness && f.seq !== null && f.seq >= status.commitSeq && f.lastFetchMsAgo !== null && f.lastFetchMsAgo < config.electionTimeoutMs);
      return [status.nodeId, ...current.map((f) => f.id)];
    },
  };
}
