// `tributary witness`: the third voter of a cluster of two data nodes (docs/replication.md, The
// witness). It votes and keeps entry headers in its data directory, and serves /healthz,
// /metrics and /api/cluster; no MQTT, Kafka or records.
import { mkdirSync } from 'node:fs';
import { Witness } from '../cluster/witness.js';
import { loadWitnessConfig } from '../config/load.js';
import { WitnessHttpServer } from '../http/witness-server.js';
import { createConsoleLogger } from '../logger.js';
import { loadMutualTlsFiles } from '../net/tls-files.js';
import { configFileFlags } from './command-line.js';

export const WITNESS_HELP = `Usage: tributary witness --config FILE [--data-dir DIR]
       tributary witness init --config FILE [--data-dir DIR]   (once, at install: see --help there)

Runs a witness: a voter of a cluster of two data nodes that stores entry headers, no telemetry
(docs/replication.md). The data nodes list it in cluster.peers with witness: true.
  --config FILE    its YAML config: dataDir, http, cluster (nodeId, listen, peers, tls), logging
  --data-dir DIR   overrides dataDir`;

export async function witnessCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'init') return (await import('./cluster-init.js')).clusterInitCommand(argv.slice(1), 'witness');
  const flags = configFileFlags('witness', argv, WITNESS_HELP);
  if (flags === null) return 0;
  const config = loadWitnessConfig({ file: flags.config, dataDir: flags.dataDir });
  const logger = await createConsoleLogger({ level: config.logging.level, format: config.logging.format });
  mkdirSync(config.dataDir, { recursive: true });
  const c = config.cluster;
  // cluster.tls's files read and checked here, as a data node's (a missing file or a key that does not match stops the start).
  const tls = c.tls === null ? null : loadMutualTlsFiles(c.tls);
  const witness = await Witness.start({ ...c, tls, peers: c.peers, dataDir: config.dataDir, logger: logger.child({ component: 'witness' }) });
  logger.info({ nodeId: c.nodeId, address: `${c.listen.host}:${witness.port}`, peers: c.peers.map((p) => p.id) }, 'witness listening');
  let http: WitnessHttpServer | null = null;
  try {
    if (config.http !== null) {
      http = await WitnessHttpServer.start({ ...config.http, status: () => witness.status() });
      logger.info({ host: config.http.host, port: http.port }, 'HTTP API listening');
    }
  } catch (err) {
    await witness.close();
    throw err;
  }
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (++signals > 1) process.exit(130);
      logger.info({ signal }, 'shutting down');
      void Promise.allSettled([http?.close(), witness.close()]).then(() => resolve());
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  logger.info('stopped');
  return 0;
}
