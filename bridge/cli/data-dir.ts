// A stopped node's data directory as the read-only commands (topics, replay, readers) take it:
// one that holds no log is refused, never created (Log.open would make an empty one for a typo).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../broker/errors.js';
import { DATABASE_FILE } from '../../broker/log/schema.js';

export function checkDataDir(dataDir: string): void {
  if (!existsSync(join(dataDir, DATABASE_FILE))) throw new UsageError(`--data-dir: no Tributary log in ${dataDir} (no ${DATABASE_FILE})`);
}
