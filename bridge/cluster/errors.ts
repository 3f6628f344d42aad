// Replication's errors (docs/replication.md): its durable election state and its wire messages.
import { TributaryError, type TributaryErrorOptions } from '../../broker/errors.js';

export const CLUSTER_ERROR_CODES = [
  'TRIB_CLUSTER_STATE',
  'TRIB_CLUSTER_MALFORMED',
  'TRIB_CLUSTER_UNKNOWN_PEER',
  'TRIB_CLUSTER_FOLLOWER_DISK_FULL',
  'TRIB_CLUSTER_PEER_REFUSED',
  'TRIB_CLUSTER_INIT_REFUSED',
  'TRIB_CLUSTER_SINGLE_NODE_DIVERGED',
  'TRIB_CLUSTER_FORWARD_FAILED',
  'TRIB_CLUSTER_FORWARD_REFUSED',
] as const;
export type ClusterErrorCode = (typeof CLUSTER_ERROR_CODES)[number];

/** cluster.db (the current epoch and the vote cast in it) cannot be read or written: the node does not vote or lead without it. */
export class ClusterStateError extends TributaryError<ClusterErrorCode> {
  readonly code = 'TRIB_CLUSTER_STATE';
  readonly retriable = false;
  constructor(file: string, reason: string, options?: TributaryErrorOptions) {
    super(`cluster state ${file}: ${reason}`, options);
  }
}

/** A replication message that breaks its grammar (or an unknown API): the connection is closed. */
export class ReplicationMessageError extends TributaryError<ClusterErrorCode> {
  readonly code = 'TRIB_CLUSTER_MALFORMED';
  readonly retriable = false;
}

/** A request from a node id that is not among cluster.peers: refused, named in the log. */
export class UnknownPeerError extends TributaryError<ClusterErrorCode> {
  readonly code = 'TRIB_CLUSTER_UNKNOWN_PEER';
  readonly retriable = false;
  constructor(readonly peerId: string) {
    super(`a replication request from '${peerId}', which is not in cluster.peers`);
  }
}

/**
 * A follower cannot store what it fetched: its disk is full (TRIB_LOG_DISK_FULL) or over its disk
 * budget (TRIB_LOG_DISK_BUDGET), the cause. It falls behind, fetching again only now and then; the
 * leader and the other followers go on.
 */
export class FollowerDiskFullError extends TributaryError<ClusterErrorCode> {
  readonly code = 'TRIB_CLUSTER_FOLLOWER_DISK_FULL';
  // Retriable: once space returns the same entries are fetched and stored.
  readonly retriable = true;
  constructor(dataDir: string, options: TributaryErrorOptions) {
    super(`this follower cannot store what it fetches from the leader (no space in ${dataDir}); it falls behind until space returns`, options);
  }
}

/**
 * Under mutual TLS (cluster.tls), a peer refused: no certificate of the cluster's CA, a certificate
 * that names no peer, or a request that claims another node's id than its certificate names.
 */
export class PeerRefusedError extends TributaryError<ClusterErrorCode> {
  readonly code = 'TRIB_CLUSTER_PEER_REFUSED';
  readonly retriable = false;
}

/**
 * `tributary cluster init` (or `witness init`) refused a data directory that is not empty: it
 * holds cluster.db (formatted before, or a member's votes) or a log. Nothing was written.
 */
export class InitRefusedError extends TributaryError<ClusterErrorCode> {
  readonly code = 'TRIB_CLUSTER_INIT_REFUSED';
  readonly retriable = false;
  constructor(dataDir: string, reason: string, options?: TributaryErrorOptions) {
    super(`cluster init: ${dataDir} ${reason}`, options);
  }
}

/**
 * A single node that joined a cluster with its data (the upgrade) was told by a leader to truncate
 * records it held, and acknowledged, as a single node: the leader was elected without it (the new,
 * empty nodes started first). It refuses, keeps its log and follows no further.
 */
export class SingleNodeDivergedError extends TributaryError<ClusterErrorCode> {
  readonly code = 'TRIB_CLUSTER_SINGLE_NODE_DIVERGED';
  readonly retriable = false;
  constructor(leaderId: string, singleNodeEnd: number, truncateAfter: number) {
    super(
      `the leader ${leaderId} would truncate this node's log after position ${truncateAfter}, below ${singleNodeEnd}, the end of what it held as a single node before it joined the cluster; refused. The leader was elected without this node: stop every node, start this one first and the others after it (docs/replication.md, "Bootstrapping a cluster")`,
    );
  }
}

/**
 * A follower (cluster.followers: forward) handed publishes to the leader and got no answer that
 * they are committed: the leader changed, died, timed out or refused the append. Not acknowledged;
 * the MQTT connection is closed so that the device sends them again (QoS 1: maybe stored twice).
 */
export class ForwardFailedError extends TributaryError<ClusterErrorCode> {
  readonly code = 'TRIB_CLUSTER_FORWARD_FAILED';
  readonly retriable = false;
  constructor(reason: string, options?: TributaryErrorOptions) {
    super(`publishes handed to the cluster leader were not acknowledged: ${reason}`, options);
  }
}

/** A publish a follower does not hand to the leader (QoS 2 in this slice): the connection is closed, and the device should publish to the leader. */
export class ForwardRefusedError extends TributaryError<ClusterErrorCode> {
  readonly code = 'TRIB_CLUSTER_FORWARD_REFUSED';
  readonly retriable = false;
  constructor(reason: string) {
    super(`a follower does not take this publish: ${reason}`);
  }
}
