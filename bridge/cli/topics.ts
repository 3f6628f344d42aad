// `tributary topics`: topics, partitions, offsets and sizes, from a running node over HTTP or from
// a stopped node's data directory.
import { Log } from '../../broker/log/log.js';
import { type CliEnvironment, nodeClient } from './node-client.js';
import { parseFlags, printTable } from './command-line.js';
import { checkDataDir } from './data-dir.js';

export const TOPICS_HELP = `Usage: tributary topics [--url URL | --data-dir DIR] [--json]

Lists topics with their partitions, offsets and sizes.
  --url URL        a running node (default http://127.0.0.1:8080); a cluster's nodes
                   comma-separated: the next is tried when one is down
  --token TOKEN    the node's http.token (default: env TRIBUTARY_HTTP_TOKEN)
  --data-dir DIR   a stopped node's data directory instead
  --json           print JSON`;

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface TopicsBody {
  topics: Array<{ name: string; partitions: Array<{ partition: number; logStartOffset: number; logEndOffset: number; bytes: number }> }>;
}

export async function topicsCommand(argv: string[], env: CliEnvironment): Promise<number> {
  const values = parseFlags('topics', argv, OPTIONS);
  if (values.help) {
    process.stdout.write(`${TOPICS_HELP}\n`);
    return 0;
  }
  const dataDir = values['data-dir'];
  let body: TopicsBody;
  if (dataDir !== undefined) {
    checkDataDir(dataDir);
    const log = await Log.open({ dataDir });
    try {
      body = { topics: log.topics() };
    } finally {
      await log.close();
    }
  } else {
    // A non-2xx answer (401 without the token, …) becomes the node's error: one line, exit 1.
    body = (await nodeClient(values, env).json('/api/topics')) as TopicsBody;
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  const rows = [['TOPIC', 'PARTITION', 'START', 'END', 'RECORDS', 'BYTES']];
  for (const t of body.topics) {
    for (const p of t.partitions) {
      rows.push([t.name, String(p.partition), String(p.logStartOffset), String(p.logEndOffset), String(p.logEndOffset - p.logStartOffset), String(p.bytes)]);
    }
  }
  printTable(rows);
  return 0;
}
