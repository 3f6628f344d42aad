// `tributary cluster status`: a running node's view of its replicated cluster (GET /api/cluster):
// role, epoch, leader, positions, and on the leader each follower's position and lag, the witness
// marked as such. Asked of a witness (`tributary witness`), its own view: epoch, leader, headers held.
import { UsageError } from '../../broker/errors.js';
import { type CliEnvironment, nodeClient } from './node-client.js';
import { parseFlags, printTable } from './command-line.js';
import type { ClusterStatusBody, WitnessStatus } from '../shared/cluster-status.js';

export const CLUSTER_HELP = `Usage: tributary cluster status [--url URL] [--json]
       tributary cluster init --config FILE [--data-dir DIR]   (see tributary cluster init --help)

Shows the cluster as the node sees it: its role, the epoch, the leader, its last and committed
positions, and (asked of the leader) each follower's position, lag and whether it is in sync, and
how many partitions are under-replicated (held by a follower out of the in-sync set short of the leader).
A witness among the followers is marked witness under KIND (it holds entry headers, no records). Asked of a
witness's HTTP listener, its epoch, the leader it follows and the headers it holds.
  --url URL        a running node or witness (default http://127.0.0.1:8080)
  --token TOKEN    the node's http.token (default: env TRIBUTARY_HTTP_TOKEN)
  --json           print JSON`;

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function clusterCommand(argv: string[], env: CliEnvironment): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'init') return (await import('./cluster-init.js')).clusterInitCommand(rest, 'node');
  const values = parseFlags('cluster', rest, OPTIONS);
  if (values.help || sub === '--help' || sub === '-h') {
    process.stdout.write(`${CLUSTER_HELP}\n`);
    return 0;
  }
  if (sub !== 'status') throw new UsageError(`cluster: unknown subcommand '${sub ?? ''}' (known: status, init)`);
  const body = (await nodeClient(values, env).json('/api/cluster')) as ClusterStatusBody;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  if ('enabled' in body) {
    process.stdout.write('one node (no cluster block)\n');
    return 0;
  }
  if (body.role === 'witness') {
    printWitness(body);
    return 0;
  }
  printTable([
    ['NODE', 'ROLE', 'EPOCH', 'LEADER', 'LAST', 'COMMITTED', 'ACKS', 'ELECTIONS', 'UNDER-REPLICATED'],
    [body.nodeId, body.role, String(body.epoch), body.leaderId ?? '-', `${body.last.seq} (epoch ${body.last.epoch})`, String(body.commitSeq), body.acks, String(body.elections), body.role === 'leader' ? String(body.underReplicatedPartitions) : '-'],
  ]);
  if (body.diskFull !== null) {
    process.stdout.write(`\nCANNOT STORE what it fetches for ${body.diskFull.sinceMsAgo} ms (${body.diskFull.code}): ${body.diskFull.message}\n`);
  }
  if (body.followers.length > 0) {
    process.stdout.write('\n');
    printTable([
      ['FOLLOWER', 'POSITION', 'LAG', 'LAST FETCH', 'KIND', 'IN SYNC'],
      ...body.followers.map((f) => [f.id, f.seq === null ? '-' : String(f.seq), f.lag === null ? '-' : String(f.lag), f.lastFetchMsAgo === null ? 'never' : `${f.lastFetchMsAgo} ms ago`, f.witness ? 'witness' : 'data', f.inSync ? 'yes' : 'no']),
    ]);
  }
  return 0;
}

/** A witness's own view: it leads nothing and has no followers; its positions are of entry headers. */
function printWitness(body: WitnessStatus): void {
  printTable([
    ['NODE', 'ROLE', 'EPOCH', 'LEADER', 'LAST HEADER', 'COMMITTED', 'TRUNCATIONS'],
    [body.nodeId, body.role, String(body.epoch), body.leaderId ?? '-', `${body.last.seq} (epoch ${body.last.epoch})`, String(body.commitSeq), String(body.truncations)],
  ]);
  process.stdout.write(`\nA witness: it votes and holds entry headers, no records. Voters: ${body.voters.join(', ')}. Followers are listed by the leader${body.leaderId === null ? '' : ` (${body.leaderId})`}.\n`);
}
