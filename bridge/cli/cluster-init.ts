// `tributary cluster init --config FILE` and `tributary witness init --config FILE`: a new voter's
// data directory formatted once, before its first start (bridge/cluster/init.ts). Run at install,
// never at every start: a member that lost its disk must come back unformatted (docs/replication.md,
// "Bootstrapping a cluster").
import { UsageError } from '../../broker/errors.js';
import { initDataDir } from '../cluster/init.js';
import { loadConfig, loadWitnessConfig } from '../config/load.js';
import { configFileFlags } from './command-line.js';

export const CLUSTER_INIT_HELP = `Usage: tributary cluster init --config FILE [--data-dir DIR]
       tributary witness init --config FILE [--data-dir DIR]

Formats a new cluster member's empty data directory (once, at install, before its first start):
cluster.db with epoch 0, no vote, the cluster's name, the node id and a random directory id. An
initialised node with an empty log is new and votes at once, so a majority of new nodes elects.
Refuses a directory that holds cluster.db or a log: a node with data (the single-node upgrade)
starts with its cluster block as it is; a member that lost its disk starts without init and waits
until a leader, or every other voter, tells it the epoch.
  --config FILE    the node's (or witness's) config, with its cluster block
  --data-dir DIR   overrides dataDir`;

export function clusterInitCommand(argv: string[], kind: 'node' | 'witness'): number {
  const command = kind === 'node' ? 'cluster init' : 'witness init';
  const flags = configFileFlags(command, argv, CLUSTER_INIT_HELP);
  if (flags === null) return 0;
  const { dataDir } = flags;
  let target: { dataDir: string; cluster: string | null; nodeId: string };
  if (kind === 'witness') {
    const config = loadWitnessConfig({ file: flags.config, dataDir });
    target = { dataDir: config.dataDir, cluster: null, nodeId: config.cluster.nodeId };
  } else {
    const config = loadConfig({ file: flags.config, flags: dataDir === undefined ? {} : { dataDir } });
    if (config.cluster === null) throw new UsageError(`${command}: ${flags.config} has no cluster block; a single node needs no init`);
    target = { dataDir: config.dataDir, cluster: config.cluster.name, nodeId: config.cluster.nodeId };
  }
  const mark = initDataDir(target.dataDir, { cluster: target.cluster, nodeId: target.nodeId });
  process.stdout.write(`initialised ${target.dataDir} for node ${mark.nodeId}${mark.cluster === null ? '' : ` of cluster ${mark.cluster}`} (directory id ${mark.directoryId})\n`);
  return 0;
}
