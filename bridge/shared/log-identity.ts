// The id of a data directory's log (a UUID in `upstream-log-id` beside it, fsynced): exactly-once
// cursors upstream carry it, so that a forwarder can tell its own log's cursors from another
// log's under the same name (docs/upstream.md). A replicated cluster has one log and so one id,
// agreed through the replicated log and kept here by every node that learned it (docs/replication.md).
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const LOG_ID_FILE = 'upstream-log-id';

/** The log id kept in `dataDir`, or null when there is none yet. */
export function readLogIdentity(dataDir: string): string | null {
  try {
    const id = readFileSync(join(dataDir, LOG_ID_FILE), 'utf8').trim();
    return id === '' ? null : id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return null;
  }
}

/** The id of this data directory's log, made once (fsynced) and kept beside it. */
export function logIdentity(dataDir: string): string {
  const id = readLogIdentity(dataDir);
  if (id !== null) return id;
  const made = randomUUID();
  writeLogIdentity(dataDir, made);
  return made;
}

/** Keeps `id` as this data directory's log id: written to a temporary file, fsynced, renamed over the old one. */
export function writeLogIdentity(dataDir: string, id: string): void {
  const file = join(dataDir, LOG_ID_FILE);
  const temporary = `${file}.tmp`;
  const fd = openSync(temporary, 'w');
  try {
    writeSync(fd, `${id}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
}
