// Binding a server to its port, with the one error a user sees when that fails.
import type { Server } from 'node:net';
import { ListenError } from './errors.js';

/**
 * Listens on host:port; a bind failure becomes a ListenError naming `what` (and its config key).
 * `backlog`: connections the kernel queues until they are accepted (Node's default is 511; the
 * kernel caps it at net.core.somaxconn).
 */
export function listen(server: Server, what: string, host: string, port: number, backlog?: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => reject(new ListenError(what, host, port, { cause: err }));
    server.once('error', fail);
    server.listen({ port, host, ...(backlog === undefined ? {} : { backlog }) }, () => {
      server.off('error', fail);
      resolve();
    });
  });
}
