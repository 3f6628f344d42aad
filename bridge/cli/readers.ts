// `tributary readers`: the named replay readers, where each stands and how far behind the log end
// it is; --delete NAME forgets one (its next run starts from its --from bound again).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CursorStore, CURSORS_FILE } from '../../broker/cursors.js';
import { Log } from '../../broker/log/log.js';
import { checkName } from '../replay/reader-name.js';
import { readerLags, type ReaderLag } from '../replay/readers.js';
import { ReaderPositions } from '../replay/reader-store.js';
import { parseFlags, printTable } from './command-line.js';
import { checkDataDir } from './data-dir.js';
import { type CliEnvironment, nodeClient } from './node-client.js';

export const READERS_HELP = `Usage: tributary readers [--url URL | --data-dir DIR] [--json] [--delete NAME]

Lists named replay readers (replay --reader NAME): position and lag per topic partition.
  --url URL        a running node (default http://127.0.0.1:8080); a cluster's nodes
                   comma-separated: the next is tried when one is down, deletes go to the leader
  --token TOKEN    the node's http.token (default: env TRIBUTARY_HTTP_TOKEN)
  --data-dir DIR   a stopped node's data directory instead
  --json           print JSON
  --delete NAME    forget the reader NAME`;

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  delete: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function readersCommand(argv: string[], env: CliEnvironment): Promise<number> {
  const values = parseFlags('readers', argv, OPTIONS);
  if (values.help) {
    process.stdout.write(`${READERS_HELP}\n`);
    return 0;
  }
  if (values.delete !== undefined) checkName(values.delete);
  const dataDir = values['data-dir'];
  let readers: ReaderLag[];
  let deleted: number | null = null;
  if (dataDir !== undefined) {
    checkDataDir(dataDir);
    const log = await Log.open({ dataDir });
    try {
      if (!existsSync(join(log.dataDir, CURSORS_FILE)) && values.delete === undefined) {
        readers = [];
      } else {
        const cursors = CursorStore.open(log.dataDir);
        try {
          const positions = new ReaderPositions(cursors);
          if (values.delete !== undefined) deleted = positions.delete(values.delete);
          readers = readerLags(positions, log);
        } finally {
          cursors.close();
        }
      }
    } finally {
      await log.close();
    }
  } else {
    const node = nodeClient(values, env);
    if (values.delete !== undefined) {
      deleted = ((await node.json(`/api/readers/${encodeURIComponent(values.delete)}`, 'DELETE')) as { deleted: number }).deleted;
    }
    readers = ((await node.json('/api/readers')) as { readers: ReaderLag[] }).readers;
  }
  if (deleted !== null) process.stderr.write(`deleted reader '${values.delete}' (${deleted} position${deleted === 1 ? '' : 's'})\n`);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ readers }, null, 2)}\n`);
    return 0;
  }
  const rows = [['READER', 'TOPIC', 'PARTITION', 'NEXT', 'END', 'LAG', 'UPDATED']];
  for (const r of readers) rows.push([r.reader, r.topic, String(r.partition), String(r.nextOffset), String(r.logEndOffset ?? '-'), String(r.lag ?? '-'), r.updatedAt]);
  printTable(rows);
  return 0;
}
