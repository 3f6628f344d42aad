// Gathers what the broker writes to one connection during an event-loop turn into one socket
// write. aedes writes each packet in several pieces (mqtt-packet's writeToStream), and a turn that
// acknowledges a hundred publishes would otherwise cost hundreds of syscalls. Backpressure passes
// through: a write completes only once the socket takes it without exceeding its buffer.
import { Writable, type Duplex } from 'node:stream';

export function coalesceWrites(socket: Duplex): Writable {
  let corked = false;
  const uncork = (): void => {
    if (!corked) return;
    corked = false;
    socket.uncork();
  };
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!corked) {
        corked = true;
        socket.cork();
        setImmediate(uncork);
      }
      if (socket.write(chunk)) done();
      else socket.once('drain', () => done());
    },
    final(done) {
      uncork();
      socket.end(done);
    },
    // A broker often writes its last packet (a refusing CONNACK) and closes at once: flush first.
    destroy(err, done) {
      uncork();
      socket.destroy(err ?? undefined);
      done(err);
    },
  });
}
