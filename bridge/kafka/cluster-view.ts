// A replicated cluster as Kafka clients see it (docs/replication.md, Clients): every node is a
// broker, and the cluster's leader leads every partition (one leader for all partitions). Broker
// ids are the positions of the nodes' cluster.nodeId among all voters' ids sorted, so every node
// numbers the others alike without a setting of its own. Metadata (apis/metadata.ts) reads this.

/** Another node of the cluster. */
export interface ClusterMember {
  id: string;
  /** host:port where Kafka clients reach its Kafka endpoint (cluster.peers[].kafka); null: not listed. */
  kafka: string | null;
}

/** What the replication side tells the Kafka endpoint (bridge/main.ts wires it). */
export interface KafkaClusterView {
  readonly selfId: string;
  readonly members: readonly ClusterMember[];
  /** The cluster leader this node knows; null: none now (an election). */
  leaderId(): string | null;
  /** The nodes known to hold the committed log: on the leader, itself and the followers caught up to the commit; on a follower, the leader and itself. */
  inSync(): readonly string[];
}

export interface KafkaBroker {
  nodeId: number;
  host: string;
  port: number;
}

/** The brokers, leader, replicas and in-sync replicas Metadata names. */
export interface ClusterMetadata {
  brokers: KafkaBroker[];
  /** -1: no leader with a known address (partitions answer LEADER_NOT_AVAILABLE). */
  leader: number;
  replicas: number[];
  isr: number[];
}

/** Each node's broker id: its position among every voter's id, sorted. */
export function brokerIds(view: Pick<KafkaClusterView, 'selfId' | 'members'>): Map<string, number> {
  const ids = [view.selfId, ...view.members.map((m) => m.id)].sort();
  return new Map(ids.map((id, i) => [id, i]));
}

/** Metadata's view of the cluster, with this node reached at `self` (the address the client used, or the advertised one). */
export function clusterMetadata(view: KafkaClusterView, self: { host: string; port: number }): ClusterMetadata {
  const ids = brokerIds(view);
  const brokers: KafkaBroker[] = [{ nodeId: ids.get(view.selfId)!, ...self }];
  for (const member of view.members) {
    if (member.kafka === null) continue;
    const address = parseHostPort(member.kafka);
    brokers.push({ nodeId: ids.get(member.id)!, ...address });
  }
  brokers.sort((a, b) => a.nodeId - b.nodeId);
  const leaderId = view.leaderId();
  const leader = leaderId === null ? undefined : ids.get(leaderId);
  const listed = leader !== undefined && brokers.some((b) => b.nodeId === leader);
  return {
    brokers,
    leader: listed ? leader : -1,
    replicas: [...ids.values()].sort((a, b) => a - b),
    isr: view
      .inSync()
      .map((id) => ids.get(id))
      .filter((n): n is number => n !== undefined)
      .sort((a, b) => a - b),
  };
}

/** host:port or [v6]:port. */
function parseHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(colon + 1)) };
}
