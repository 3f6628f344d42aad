// Gathers what the broker writes to one connection during an event-loop turn into one socket
// write. aedes writes each packet in several pieces (mqtt-packet's writeToStream), and a turn that
// acknowledges a hundred publishes would otherwise cost hundreds of syscalls.
//
// The socket's own write() and destroy() are wrapped rather than a stream put in front of it: the
// broker keeps the socket's backpressure (write() returning false, then 'drain') as it is, and a
// connection costs no extra stream (see frame-guard.ts).
//
// The sockets corked in a turn are uncorked together, by one setImmediate for all of them: with a
// thousand devices each sending a message now and then, a turn writes one PUBACK to each of many
// sockets, and an Immediate per write was a good part of the garbage per message (bench:footprint).
import type { Duplex } from 'node:stream';

/** The uncorks of the sockets corked during this turn. */
let corked: Array<() => void> = [];

function uncorkAll(): void {
  const uncorks = corked;
  corked = [];
  for (const uncork of uncorks) uncork();
}

export function coalesceWrites(socket: Duplex): void {
  let isCorked = false;
  const uncork = (): void => {
    if (!isCorked) return;
    isCorked = false;
    socket.uncork();
  };
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  socket.write = ((...args: unknown[]): boolean => {
    if (!isCorked && !socket.destroyed) {
      isCorked = true;
      socket.cork();
      if (corked.push(uncork) === 1) setImmediate(uncorkAll);
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
