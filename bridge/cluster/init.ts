// `tributary cluster init` and `tributary witness init` (docs/replication.md, "Bootstrapping a
// cluster"): a new voter's data directory formatted once, before its first start, as KRaft's
// `kafka-storage format` writes meta.properties. cluster.db gets epoch 0, no vote and the format
// mark (election-state.ts), so that at start the node knows it is new: its empty log is the truth
// and it votes by the normal rules. A directory that holds a log or cluster.db already is refused:
// formatting a wiped member again would let it vote as new and forget what it had acknowledged.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DATABASE_FILE } from '../../broker/log/schema.js';
import { CLUSTER_DATABASE_FILE, ElectionState, type FormatMark } from './election-state.js';
import { InitRefusedError } from './errors.js';
import { POSITIONS_DATABASE_FILE } from './position-log.js';

/** Formats `dataDir` (made if missing) for voter `nodeId` of cluster `cluster`; refuses a directory that is not empty. */
export function initDataDir(dataDir: string, mark: { cluster: string | null; nodeId: string }): FormatMark {
  mkdirSync(dataDir, { recursive: true });
  if (existsSync(join(dataDir, CLUSTER_DATABASE_FILE))) {
    throw new InitRefusedError(dataDir, `holds ${CLUSTER_DATABASE_FILE} already (initialised before, or a member's votes); a member restarts without init`);
  }
  for (const log of [DATABASE_FILE, POSITIONS_DATABASE_FILE]) {
    if (existsSync(join(dataDir, log))) {
      throw new InitRefusedError(dataDir, `holds a log (${log}): a node with data joins a cluster by starting with the cluster block (the single-node upgrade), a wiped member by starting without init`);
    }
  }
  try {
    return ElectionState.format(dataDir, mark);
  } catch (err) {
    // Another init made cluster.db between the check and the link.
    if (existsSync(join(dataDir, CLUSTER_DATABASE_FILE))) throw new InitRefusedError(dataDir, `holds ${CLUSTER_DATABASE_FILE} already`, { cause: err });
    throw err;
  }
}
