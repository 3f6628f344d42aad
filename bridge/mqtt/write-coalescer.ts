// Gathers what the broker writes to one connection during an event-loop turn into one socket
// write. aedes writes each packet in several pieces (mqtt-packet's writeToStream), and a turn that
// acknowledges a hundred publishes would otherwise cost hundreds of syscalls.
//
// The socket's own write() and destroy() are wrapped rather than a stream put in front of it: the
// broker keeps the socket's backpressure (write() returning false, then 'drain') as it is, and a
// connection costs no extra stream (see frame-guard.ts).
import type { Duplex } from 'node:stream';

export function coalesceWrites(socket: Duplex): void {
  let corked = false;
  const uncork = (): void => {
    if (!corked) return;
    corked = false;
    socket.uncork();
  };
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]): boolean => {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return write(...args);
  }) as Duplex['write'];
  // A broker often writes its last packet (a refusing CONNACK) and closes at once: flush first.
  // (end() uncorks by itself.)
  const destroy = socket.destroy.bind(socket);
  socket.destroy = (err?: Error): Duplex => {
    uncork();
    return destroy(err);
  };
}
