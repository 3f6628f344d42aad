// One job: close a connection after the server's MQTT 5.0 DISCONNECT without a TCP reset.
//
// After sending a DISCONNECT the server "MUST NOT send any more MQTT Control Packets" and "MUST
// close the Network Connection" [MQTT-3.14.4-1] [MQTT-3.14.4-2]. Closed at once (destroy), a socket
// whose client is still sending (the rest of a publish burst, or PUBRELs for the PUBRECs it has not
// read yet) answers that data with a TCP reset: the kernel resets a closed connection that data
// arrives on. A client that meets the reset while it still reads what came before the DISCONNECT
// fails its next write and never reads the DISCONNECT that is waiting in its buffer, so it sees
// "connection reset" instead of the reason code (Paho's MQTT 5.0 `test_flow_control2`: 1,001 QoS 2
// PUBLISHes, then PUBRELs for the PUBRECs, then the DISCONNECT 0x93 it expects).
//
// So the close lingers, as HTTP servers do (Apache's lingering close): the socket is ended (a FIN
// after the DISCONNECT), then whatever still arrives is read and dropped, never handled, until the
// client closes its side or LINGER_MS has passed, then it is destroyed. Nothing more is written.
import type { Duplex } from 'node:stream';

/** The most a refused connection is kept open, reading and dropping, after its DISCONNECT. */
export const LINGER_MS = 2_000;

/**
 * Makes the next destroy() of `socket` without an error a lingering close, provided `closing()` is
 * true then (aedes closing the client after its DISCONNECT); any other destroy, and every later
 * one, destroys at once. `read` is the socket's own read(), unwrapped.
 */
export function lingerOnDestroy(socket: Duplex, read: () => unknown, closing: () => boolean): void {
  const destroy = socket.destroy.bind(socket);
  socket.destroy = (err?: Error): Duplex => {
    socket.destroy = destroy;
    if (err !== undefined || socket.destroyed || !closing()) return destroy(err);
    linger(socket, read, destroy);
    return socket;
  };
}

function linger(socket: Duplex, read: () => unknown, destroy: () => void): void {
  // [MQTT-3.14.4-1] nothing after the DISCONNECT (a late PUBACK of the fast path, say).
  socket.write = ((...args: unknown[]): boolean => {
    const done = args.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    if (done !== undefined) process.nextTick(done);
    return true;
  }) as Duplex['write'];
  const timer = setTimeout(destroy, LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.on('error', () => destroy());
  socket.once('end', () => destroy()); // the client has closed its side: nothing is left to drop
  const drop = (): void => {
    while (!socket.destroyed && read() !== null);
  };
  socket.on('readable', drop);
  socket.end();
  drop();
}
