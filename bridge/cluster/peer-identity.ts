// Who may speak for whom on the replication listener (docs/security.md, "The replication
// listener"): under mutual TLS (cluster.tls) a request may speak only for the node id its
// connection's client certificate names (transport.ts finds it). The data nodes (cluster-node.ts)
// and the witness (witness.ts) check every request with it.
import { PeerRefusedError } from './errors.js';

/**
 * Refuses (TRIB_CLUSTER_PEER_REFUSED) a request that claims to come from `claimed` over a
 * connection whose certificate names `peer`; `peer` null: no TLS, nothing to check against.
 */
export function authenticated(claimed: string, peer: string | null): void {
  if (peer !== null && claimed !== peer) throw new PeerRefusedError(`a replication request claims to come from '${claimed}' over a connection whose certificate names '${peer}'`);
}
