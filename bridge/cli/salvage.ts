// `tributary salvage --data-dir OLD --to NEW`: copies every intact, CRC-valid batch of a damaged
// log into a new data directory (offsets kept; broker/log/salvage.ts) and reports per partition
// what was copied and which offset ranges were lost. The data directory's other SQLite files
// (reader positions, MQTT sessions) are copied when SQLite finds them intact.
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { UsageError } from '../../broker/errors.js';
import { salvageLog, type LostRange, type SalvageReport } from '../../broker/log/salvage.js';
import { DATABASE_FILE } from '../../broker/log/schema.js';
import { parseFlags, printTable } from './command-line.js';
import { formatCount, Progress } from './progress.js';

export const SALVAGE_HELP = `Usage: tributary salvage --data-dir OLD --to NEW [--json]

Copies every intact, CRC-valid record batch of a damaged log (TRIB_LOG_DAMAGED) into a new data
directory, offsets kept, and reports per partition what was copied and which offsets were lost.
The node must be stopped. OLD is only read. Other files: reader positions (cursors.db) and MQTT
sessions (mqtt.db) are copied when intact, else reported as not copied.
  --data-dir OLD   the damaged data directory
  --to NEW         a new, empty data directory (created); start the node on it afterwards
  --json           print the report as JSON

Exit status: 0 nothing was lost; 3 the copy is complete but some offsets or files were lost (the
report names them); 1 or 2 the salvage failed.`;

const OPTIONS = {
  'data-dir': { type: 'string' },
  to: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What the data directory's other SQLite files hold, for the report. */
const OTHER_FILES: Record<string, string> = {
  'cursors.db': 'reader positions and upstream cursors',
  'mqtt.db': 'MQTT sessions (subscriptions, retained messages, queued messages)',
};

interface FileSalvage {
  file: string;
  holds: string;
  copied: boolean;
  problem: string | null;
}

export const EXIT_LOSSES = 3;

export async function salvageCommand(argv: string[]): Promise<number> {
  const values = parseFlags('salvage', argv, OPTIONS);
  if (values.help) {
    process.stdout.write(`${SALVAGE_HELP}\n`);
    return 0;
  }
  const from = values['data-dir'];
  const to = values.to;
  if (from === undefined || to === undefined) throw new UsageError(`--data-dir and --to are required\n\n${SALVAGE_HELP}`);

  let progress: Progress | null = null;
  const report = salvageLog(from, to, (p) => {
    progress ??= new Progress(p.total, 'offsets');
    progress.update(p.done);
  });
  const files = copyOtherFiles(resolve(from), resolve(to));
  const lost = report.partitions.some((p) => p.lost.length > 0) || files.some((f) => !f.copied) || report.problems.length > 0;
  const copied = report.partitions.reduce((n, p) => n + p.batchesCopied, 0);
  (progress as Progress | null)?.finish(`salvage copied ${formatCount(copied)} batches of ${report.partitions.length} partition(s) in ${(progress as Progress | null)?.seconds.toFixed(1)} s`);
  if (values.json) process.stdout.write(`${JSON.stringify({ ...report, files }, null, 2)}\n`);
  else printReport(report, files);
  return lost ? EXIT_LOSSES : 0;
}

/** Copies each other SQLite file that passes SQLite's quick_check; reports the rest. */
function copyOtherFiles(from: string, to: string): FileSalvage[] {
  const results: FileSalvage[] = [];
  for (const file of readdirSync(from).filter((name) => name.endsWith('.db') && name !== DATABASE_FILE).sort()) {
    const holds = OTHER_FILES[file] ?? 'unknown contents';
    let db: Database.Database | undefined;
    try {
      db = new Database(join(from, file), { readonly: true, fileMustExist: true });
      const check = db.pragma('quick_check', { simple: true }) as string;
      if (check !== 'ok') {
        results.push({ file, holds, copied: false, problem: `quick_check: ${check}` });
        continue;
      }
      db.prepare('VACUUM INTO ?').run(join(to, file));
      results.push({ file, holds, copied: true, problem: null });
    } catch (err) {
      results.push({ file, holds, copied: false, problem: (err as Error).message });
    } finally {
      db?.close();
    }
  }
  return results;
}

function printReport(report: SalvageReport, files: readonly FileSalvage[]): void {
  const rows = [['TOPIC', 'PARTITION', 'BATCHES', 'OFFSETS', 'BYTES', 'LOST']];
  for (const p of report.partitions) {
    rows.push([p.topic, String(p.partition), String(p.batchesCopied), String(p.recordsCopied), String(p.bytesCopied), p.lost.length === 0 ? '-' : p.lost.map(lostText).join(', ')]);
  }
  printTable(rows);
  for (const p of report.partitions) {
    for (const range of p.lost) process.stdout.write(`lost ${p.topic}-${p.partition} offsets ${lostText(range)}: ${range.reason}\n`);
  }
  for (const f of files) {
    process.stdout.write(f.copied ? `copied ${f.file} (${f.holds})\n` : `not copied ${f.file} (${f.holds}): ${f.problem}\n`);
  }
  for (const problem of report.problems) process.stdout.write(`problem: ${problem}\n`);
  if (report.idempotenceKeysCopied > 0) process.stdout.write(`copied ${report.idempotenceKeysCopied} idempotence keys (QoS 2 publishes in flight)\n`);
}

function lostText(range: LostRange): string {
  return `${range.fromOffset}..${range.toOffset ?? 'end'}`;
}
