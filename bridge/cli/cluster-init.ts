// `tributary cluster init --config FILE` and `tributary witness init --config FILE`: a new voter's
// data directory formatted once, before its first start (bridge/cluster/init.ts). Run at install,
// never at every start: a member that lost its disk must come back unformatted (docs/replication.md,
// "Bootstrapping a cluster").
import { UsageError } from '../../broker/errors.js';
import { initDataDir } from '../cluster/init.js';
import { loadConfig, loadWitnessConfig } from '../config/load.js';
import { parseFlags } from './command-line.js';

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

const OPTIONS = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function clusterInitCommand(argv: string[], kind: 'node' | 'witness'): number {
  const command = kind === 'node' ? 'cluster init' : 'witness init';
  const values = parseFlags(command, argv, OPTIONS);
  if (values.help) {
    process.stdout.write(`${CLUSTER_INIT_HELP}\n`);
    return 0;
  }
  if (values.config === undefined) throw new UsageError(`${command}: --config FILE is needed\n\n${CLUSTER_INIT_HELP}`);
  const dataDir = values['data-dir'];
  let target: { dataDir: string; cluster: string | null; nodeId: string };
  if (kind === 'witness') {
    const config = loadWitnessConfig({ file: values.config, dataDir });
    target = { dataDir: config.dataDir, cluster: null, nodeId: config.cluster.nodeId };
  } else {
    const config = loadConfig({ file: values.config, flags: dataDir === undefined ? {} : { dataDir } });
    if (config.cluster === null) throw new UsageError(`${command}: ${values.config} has no cluster block; a single node needs no init`);
    target = { dataDir: config.dataDir, cluster: config.cluster.name, nodeId: config.cluster.nodeId };
  }
  const mark = initDataDir(target.dataDir, { cluster: target.cluster, nodeId: target.nodeId });
  process.stdout.write(`initialised ${target.dataDir} for node ${mark.nodeId}${mark.cluster === null ? '' : ` of cluster ${mark.cluster}`} (directory id ${mark.directoryId})\n`);
  return 0;
}
