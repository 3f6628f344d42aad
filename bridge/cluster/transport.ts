// The replication listener and the connections to peers: Kafka protocol frames over TCP
// (messages.ts), requests matched to responses by correlation id, several in flight on one
// connection. A peer connection is made on first use and made again after it drops.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { FrameDecoder } from '../kafka/protocol/frame-decoder.js';
import { listen } from '../net/listen.js';
import type { Logger } from '../logger.js';
import { Reader, Writer, writeRequestHeader } from './messages.js';

/** The largest replication frame: a fetch answer of cluster.fetchMaxBytes plus its small fields. */
const FRAME_SLACK = 64 * 1024;

export type RequestHandler = (apiKey: number, body: Reader) => Promise<Writer>;

function send(socket: Socket, head: Writer, body: Writer | null): void {
  const size = head.length + (body?.length ?? 0);
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeInt32BE(size, 0);
  socket.cork();
  socket.write(prefix);
  for (const chunk of head.chunks()) socket.write(chunk);
  if (body !== null) for (const chunk of body.chunks()) socket.write(chunk);
  socket.uncork();
}

export class ReplicationServer {
  private constructor(
    private readonly server: Server,
    private readonly sockets: Set<Socket>,
    readonly port: number,
  ) {}

  static async start(options: { host: string; port: number; maxBytes: number; handler: RequestHandler; logger: Logger }): Promise<ReplicationServer> {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      const decoder = new FrameDecoder(options.maxBytes + FRAME_SLACK);
      decoder.minBytes = 8;
      socket.on('data', (chunk: Buffer) => {
        let frames: Buffer[];
        try {
          frames = decoder.push(chunk);
        } catch (err) {
          options.logger.warn({ err, remote: socket.remoteAddress }, 'replication connection closed: bad frame');
          socket.destroy();
          return;
        }
        for (const frame of frames) {
          const reader = new Reader(frame);
          let apiKey: number;
          let correlationId: number;
          try {
            apiKey = reader.int16();
            reader.int16(); // version 0
            correlationId = reader.int32();
          } catch {
            socket.destroy();
            return;
          }
          options.handler(apiKey, reader).then(
            (body) => {
              if (!socket.destroyed) send(socket, new Writer().int32(correlationId), body);
            },
            (err: unknown) => {
              options.logger.warn({ err, apiKey, remote: socket.remoteAddress }, 'replication request failed; connection closed');
              socket.destroy();
            },
          );
        }
      });
    });
    await listen(server, 'the replication listener (cluster.listen)', options.host, options.port);
    return new ReplicationServer(server, sockets, (server.address() as { port: number }).port);
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Pending {
  resolve: (r: Reader) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** The connection to one peer's replication listener. */
export class PeerConnection {
  private socket: Socket | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextCorrelationId = 1;
  private closed = false;

  constructor(
    readonly peerId: string,
    private readonly host: string,
    private readonly port: number,
    private readonly maxBytes: number,
  ) {}

  /** Sends a request; resolves with the response body, rejects on timeout or a dropped connection. */
  request(apiKey: number, body: Writer, timeoutMs: number): Promise<Reader> {
    if (this.closed) return Promise.reject(new Error('closed'));
    const socket = this.connect();
    const correlationId = this.nextCorrelationId++;
    return new Promise<Reader>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new Error(`no answer from ${this.peerId} within ${timeoutMs} ms`));
        // A late answer on this connection would be matched to nothing; a stuck peer is reconnected.
        this.drop(new Error('timed out'));
      }, timeoutMs);
      this.pending.set(correlationId, { resolve, reject, timer });
      send(socket, writeRequestHeader(new Writer(), apiKey, correlationId), body);
    });
  }

  close(): void {
    this.closed = true;
    this.drop(new Error('closed'));
  }

  private connect(): Socket {
    if (this.socket !== null && !this.socket.destroyed) return this.socket;
    const socket = createConnection({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    const decoder = new FrameDecoder(this.maxBytes + FRAME_SLACK);
    decoder.minBytes = 4;
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        if (this.socket === socket) this.drop(err as Error);
        else socket.destroy();
        return;
      }
      for (const frame of frames) {
        const reader = new Reader(frame);
        const pending = this.pending.get(reader.int32());
        if (pending === undefined) continue;
        this.pending.delete(frame.readInt32BE(0));
        clearTimeout(pending.timer);
        pending.resolve(reader);
      }
    });
    // Only the current connection's end fails the requests in flight: a connection dropped earlier
    // (a timeout) closes a moment later, when its successor may already carry a request.
    socket.on('error', (err) => {
      if (this.socket === socket) this.drop(err);
    });
    socket.on('close', () => {
      if (this.socket === socket) this.drop(new Error(`connection to ${this.peerId} closed`));
    });
    this.socket = socket;
    return socket;
  }

  private drop(err: Error): void {
    const socket = this.socket;
    this.socket = null;
    socket?.destroy();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }
}

/** Splits "host:port" or "[v6]:port". */
export function parseAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(at + 1)) };
}

