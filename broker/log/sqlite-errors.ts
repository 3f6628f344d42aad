// Turns SQLite's failures into the log's typed errors, so that callers (and the MQTT front end's
// backpressure) can tell a full disk from a read-only one from a corrupt file.
import { accessSync, constants } from 'node:fs';
import { freeBytes } from './disk-budget.js';
import { DiskFullError, LogDamagedError, ReadOnlyStorageError, StorageError, TributaryError } from '../errors.js';

interface SqliteLikeError {
  code?: unknown;
  message?: unknown;
}

export function sqliteCode(err: unknown): string | undefined {
  const code = (err as SqliteLikeError | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

export function isSqliteCorruption(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || code?.startsWith('SQLITE_CORRUPT_') === true;
}

/** Maps an error thrown by better-sqlite3 during a write to a TributaryError. */
export function toWriteError(err: unknown, dataDir: string): TributaryError {
  if (err instanceof TributaryError) return err;
  const code = sqliteCode(err) ?? '';
  const message = String((err as SqliteLikeError | null)?.message ?? err);
  if (code === 'SQLITE_FULL') return new DiskFullError(dataDir, { cause: err });
  if (isSqliteCorruption(err)) return damaged(err, dataDir);
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
    return new ReadOnlyStorageError(dataDir, { cause: err });
  }
  // SQLite reports EROFS, EACCES and ENOSPC met mid-transaction as a bare "disk I/O error":
  // ask the file system which one it was.
  if (code.startsWith('SQLITE_IOERR')) {
    if (!isWritable(dataDir)) return new ReadOnlyStorageError(dataDir, { cause: err });
    if (freeBytes(dataDir) < LOW_SPACE_BYTES) return new DiskFullError(dataDir, { cause: err });
  }
  return new StorageError(`log write failed in ${dataDir}: ${message} (${code || 'no code'})`, { cause: err });
}

/** Below this much free space an I/O error is taken to mean the disk is full. */
const LOW_SPACE_BYTES = 256 * 1024;

function isWritable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}


/** SQLite's "database disk image is malformed" (and kin) as the log's non-retriable error. */
export function damaged(err: unknown, dataDir: string): LogDamagedError {
  const message = String((err as SqliteLikeError | null)?.message ?? err);
  return new LogDamagedError(dataDir, LogDamagedError.describe(dataDir, `${message} (${sqliteCode(err)})`), { cause: err });
}
