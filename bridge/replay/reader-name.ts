// Names of durable readers (--reader NAME, reader=NAME): they appear in URLs and listings.
import { UsageError } from '../../broker/errors.js';
import { UPSTREAM_GROUP } from '../upstream/cursor-group.js';

/** Names the node's own position keepers used before readers had a namespace: never a reader. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([UPSTREAM_GROUP]);

export function checkName(name: string): void {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(name)) {
    throw new UsageError(`reader name '${name}' must be 1-200 characters of A-Z a-z 0-9 . _ -`);
  }
  if (RESERVED_NAMES.has(name)) {
    throw new UsageError(`reader name '${name}' is reserved for the node's own use (the upstream forwarder's position); choose another name`);
  }
}
