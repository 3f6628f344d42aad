// Names of durable readers (--reader NAME, reader=NAME): they appear in URLs and listings.
import { UsageError } from '../../broker/errors.js';

export function checkName(name: string): void {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(name)) {
    throw new UsageError(`reader name '${name}' must be 1-200 characters of A-Z a-z 0-9 . _ -`);
  }
}
