#!/usr/bin/env node
// The `tributary` command. User errors (bad flags, bad config, a busy port) print one clear
// message and exit 2 or 1; never a stack trace.
import { parseArgs } from 'node:util';
import { TributaryError, UsageError } from '../broker/errors.js';
import { loadConfig, type ConfigFlags } from './config/load.js';
import { createConsoleLogger } from './logger.js';
import { tuneGarbageCollector } from './gc-tuning.js';
import { readPassword } from './cli/password-prompt.js';
import { type CliEnvironment, RemoteError } from './cli/node-client.js';
import { hashPassword } from './shared/passwords.js';
import { formatScramCredential, makeScramCredential, SCRAM_MECHANISMS } from './shared/scram-credentials.js';

const HELP = `Usage: tributary <command> [options]

Commands:
  start    run the node: MQTT front end, log, upstream Kafka forwarder (when upstream.enabled), HTTP API
  topics   list topics, partitions, offsets and sizes
  passwd   hash a password for mqtt.auth.users (reads the terminal, or stdin's first line)
  sim      simulated devices / load generator (tributary sim --help)
  replay   read a topic's records out as NDJSON/CSV/raw or back into MQTT (replay --help)
  readers  list named replay readers and their lag (readers --help)
  cluster  replication: this node's role, epoch, leader, positions and followers' lag (cluster status --help); cluster init formats a new member's data directory (cluster init --help)
  witness  run a witness: the third voter of two data nodes, no telemetry (witness --help)
  salvage  copy every intact batch of a damaged log into a new data directory (salvage --help)

Options for start:
  --config FILE      YAML config (default: embedded defaults; env TRIBUTARY_CONFIG)
  --data-dir DIR     where the log lives (default ./data)
  --mqtt-port N      MQTT over TCP (default 1883)
  --ws-port N        MQTT over WebSocket (default 8083)
  --http-port N      HTTP API (default 8080, on 127.0.0.1)
  Upstream to Kafka is off until the config sets upstream.enabled and upstream.brokers
  (exactly-once by default; docs/upstream.md); its lag is at GET /api/upstream.

Options for passwd:
  --username NAME    print a ready YAML entry for mqtt.auth.users, with the SCRAM
                     credentials the Kafka endpoint needs for SCRAM-SHA-256/512

Options for topics:
  --url URL          a running node's HTTP API (default http://127.0.0.1:8080); a cluster's
                     nodes comma-separated: the next is tried when one is down
  --token TOKEN      the node's http.token (default: env TRIBUTARY_HTTP_TOKEN)
  --data-dir DIR     read a stopped node's data directory instead
  --json             print JSON

Environment: TRIBUTARY_<KEY> overrides any config key (see docs/configuration.md); LOG_LEVEL.`;

const OPTIONS = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  'mqtt-port': { type: 'string' },
  'ws-port': { type: 'string' },
  'http-port': { type: 'string' },
  url: { type: 'string' },
  json: { type: 'boolean' },
  username: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The one place the CLI reads its environment (the node's own config is read by config/load.ts). */
function cliEnvironment(): CliEnvironment {
  return { httpToken: process.env.TRIBUTARY_HTTP_TOKEN ?? null };
}

async function main(argv: string[]): Promise<number> {
  // The simulator has its own options and imports nothing of the node's (device-sim/cli.ts).
  if (argv[0] === 'sim') return (await import('../device-sim/cli.js')).simMain(argv.slice(1));
  // These commands have options of their own (bridge/cli/*.ts). Imported when used, so that a
  // running node does not carry the MQTT client library the replay into MQTT needs.
  if (argv[0] === 'replay') return (await import('./cli/replay.js')).replayCommand(argv.slice(1), cliEnvironment());
  if (argv[0] === 'topics') return (await import('./cli/topics.js')).topicsCommand(argv.slice(1), cliEnvironment());
  if (argv[0] === 'cluster') return (await import('./cli/cluster.js')).clusterCommand(argv.slice(1), cliEnvironment());
  if (argv[0] === 'readers') return (await import('./cli/readers.js')).readersCommand(argv.slice(1), cliEnvironment());
  if (argv[0] === 'witness') return (await import('./cli/witness.js')).witnessCommand(argv.slice(1));
  if (argv[0] === 'salvage') return (await import('./cli/salvage.js')).salvageCommand(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'start':
      return start(values.config, {
        dataDir: values['data-dir'],
        mqttPort: portFlag('--mqtt-port', values['mqtt-port']),
        wsPort: portFlag('--ws-port', values['ws-port']),
        httpPort: portFlag('--http-port', values['http-port']),
      });
    case 'passwd':
      return passwd(values.username);
    default:
      throw new UsageError(`unknown command '${command}'\n\n${HELP}`);
  }
}

function portFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${name} must be a port number 0-65535, got '${value}'`);
  return port;
}

async function start(file: string | undefined, flags: ConfigFlags): Promise<number> {
  const config = loadConfig({ file, flags });
  const logger = await createConsoleLogger({ level: config.logging.level, format: config.logging.format });
  tuneGarbageCollector();
  // Loaded here: the node's modules (aedes, the forwarder, …) would slow every other command's start.
  const { startNode } = await import('./main.js');
  const node = await startNode(config, logger);
  logger.info({ node: config.node.id }, 'Tributary started');
  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal }, 'second signal: exiting at once');
        process.exit(130);
      }
      logger.info({ signal }, 'shutting down (send the signal again to exit at once)');
      void node.close().then(resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  logger.info('stopped');
  return 0;
}

async function passwd(username: string | undefined): Promise<number> {
  if (username === '') throw new UsageError('--username cannot be empty');
  const password = await readPassword();
  const hash = await hashPassword(password);
  if (username === undefined) {
    process.stdout.write(`${hash}\n`);
    return 0;
  }
  // SCRAM (the Kafka endpoint) cannot be checked against the scrypt hash: its credentials are
  // derived from the password here, once (bridge/shared/scram-credentials.ts).
  const scram = await Promise.all(SCRAM_MECHANISMS.map(async (mechanism) => formatScramCredential(await makeScramCredential(mechanism, password))));
  process.stdout.write(`- username: ${JSON.stringify(username)}\n  password: "${hash}"\n  scram:\n${scram.map((c) => `    - "${c}"\n`).join('')}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof TributaryError) {
      process.stderr.write(`tributary: ${err.message} [${err.code}]\n`);
      process.exit(err instanceof UsageError ? 2 : 1);
    }
    if (err instanceof RemoteError) {
      // An error the node answered with, printed as if it were ours.
      process.stderr.write(`tributary: ${err.message} [${err.code}]\n`);
      process.exit(err.code === 'TRIB_USAGE' ? 2 : 1);
    }
    process.stderr.write(`tributary: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
