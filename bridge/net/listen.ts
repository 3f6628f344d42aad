// Binding a server to its port, with the one error a user sees when that fails.
import type { Server } from 'node:net';
import { ListenError } from '../../broker/errors.js';

/** Listens on host:port; a bind failure becomes a ListenError naming `what` (and its config key). */
export function listen(server: Server, what: string, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => reject(new ListenError(what, host, port, { cause: err }));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}
