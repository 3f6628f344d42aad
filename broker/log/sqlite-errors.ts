// Turns SQLite's failures into the log's typed errors, so that callers (and the MQTT front end's
// backpressure) can tell a full disk from a read-only one from a corrupt file.
import { DiskFullError, ReadOnlyStorageError, StorageError, TributaryError } from '../errors.js';

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
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
    return new ReadOnlyStorageError(dataDir, { cause: err });
  }
  // EFBIG (a file size limit) and EROFS surface as I/O errors; the message carries the detail.
  if (/read-only file system|EROFS/i.test(message)) return new ReadOnlyStorageError(dataDir, { cause: err });
  return new StorageError(`log write failed in ${dataDir}: ${message} (${code || 'no code'})`, { cause: err });
}
