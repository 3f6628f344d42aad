// What GET /api/cluster puts on the wire: a node's view of its replicated cluster. Shared by the
// node or witness that answers it (bridge/cluster/cluster-node.ts, witness.ts) and the CLI that
// reads it (bridge/cli/cluster.ts), which may not import bridge/cluster/.

export type Role = 'leader' | 'follower' | 'candidate';

/** A position in the replication log: an entry's seq and its leader epoch. */
export interface LogPosition {
  seq: number;
  epoch: number;
}

export interface FollowerStatus {
  id: string;
  /** Its last position as it reported it (fsynced, matching this leader's log); null until it fetched. */
  seq: number | null;
  lag: number | null;
  /** Since its last fetch; null: never. */
  lastFetchMsAgo: number | null;
  /**
   * In the in-sync set (Kafka's ISR rule, replica.lag.time.max.ms being the election timeout): it
   * fetched within the election timeout and, within it, reached the leader's log end as it was at
   * its previous fetch.
   */
  inSync: boolean;
  /** A witness: it holds entry headers, not records. */
  witness: boolean;
  /** The data directory id the leader counts it with (KIP-853); null: not heard yet. */
  directoryId?: string | null;
  /** It fetches with another directory id (re-initialised): served, counted only once caught up. */
  newDirectory?: boolean;
}

export interface ClusterStatus {
  nodeId: string;
  role: Role;
  epoch: number;
  leaderId: string | null;
  /** This node's last entry. */
  last: LogPosition;
  /** The commit position this node knows. */
  commitSeq: number;
  acks: 'quorum' | 'all';
  voters: string[];
  elections: number;
  /** How many times this node truncated a tail that diverged from its leader's log. */
  truncations: number;
  /** On the leader: each follower's position and lag (entries); elsewhere empty. */
  followers: FollowerStatus[];
  /**
   * On the leader: partitions with entries a data follower out of the in-sync set lacks (Kafka's
   * UnderReplicatedPartitions); 0 elsewhere, as in Kafka, where only a partition's leader counts it.
   */
  underReplicatedPartitions: number;
  /**
   * On a follower that cannot store what it fetches (its disk is full, or over its disk budget):
   * the log's error code (TRIB_LOG_DISK_FULL, TRIB_LOG_DISK_BUDGET), its message, and since when;
   * null otherwise. It falls behind and fetches again now and then until space returns.
   */
  diskFull: { code: string; message: string; sinceMsAgo: number } | null;
  /** This node's data directory id (KIP-853). */
  directoryId?: string;
  /** A peer knew this node under another directory id: it votes as a wiped node until a leader counts it again. */
  directoryReplaced?: boolean;
  /** Peers that refuse this node's replication connections, or whose connection this node refuses (TLS or authentication), with the cause. */
  refusingPeers?: PeerRefusal[];
}

/** A peer and this node refuse each other's replication connection: the TLS handshake's or the identity check's error. */
export interface PeerRefusal {
  id: string;
  cause: string;
  sinceMsAgo: number;
}

/** GET /api/cluster on a node without a cluster block. */
export interface NoClusterStatus {
  enabled: false;
  role: 'leader';
}

/**
 * GET /api/cluster on a witness (`tributary witness`, bridge/cluster/witness.ts): a voter that holds
 * entry headers, no records; it never leads, so it has no followers to report.
 */
export interface WitnessStatus {
  nodeId: string;
  role: 'witness';
  epoch: number;
  leaderId: string | null;
  /** The last entry header held, fsynced. */
  last: LogPosition;
  /** The commit position as of the last fetch answer. */
  commitSeq: number;
  voters: string[];
  /** How many times it truncated a header tail that diverged from its leader's log. */
  truncations: number;
  /** As a data node's (ClusterStatus.refusingPeers). */
  refusingPeers?: PeerRefusal[];
}

export type ClusterStatusBody = ClusterStatus | NoClusterStatus | WitnessStatus;
