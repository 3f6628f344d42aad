// A Kafka connection at the byte level, for tests of what real clients do not send: versions and
// API keys nobody serves, malformed frames, absurd length prefixes. Requests are framed by hand
// (request header v1, or v2 for flexible versions); responses come back as whole frames.
import { connect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { onCleanup } from './cleanup.js';

export class RawKafka {
  private buffered = Buffer.alloc(0);
  private readonly frames: Buffer[] = [];
  private readonly waiting: Array<(frame: Buffer | null) => void> = [];
  private nextCorrelationId = 1;
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;
  private ended = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        for (const w of this.waiting.splice(0)) w(null);
        resolve();
      });
    });
    socket.on('error', () => undefined);
  }

  static async open(t: TestContext, port: number): Promise<RawKafka> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    onCleanup(t, () => socket.destroy());
    return new RawKafka(socket);
  }

  /** Sends a request; returns its correlation id. `flexible`: request header v2 (an empty tag section after the client id). */
  send(apiKey: number, apiVersion: number, body: Buffer, flexible = false, clientId: string | null = 'raw-test'): number {
    const correlationId = this.nextCorrelationId++;
    const id = clientId === null ? null : Buffer.from(clientId);
    const header = Buffer.alloc(10 + (id?.length ?? 0) + (flexible ? 1 : 0));
    header.writeInt16BE(apiKey, 0);
    header.writeInt16BE(apiVersion, 2);
    header.writeInt32BE(correlationId, 4);
    header.writeInt16BE(id === null ? -1 : id.length, 8);
    id?.copy(header, 10);
    // (a flexible header's empty tagged-field section is the zero byte Buffer.alloc left there)
    this.sendRaw(frame(Buffer.concat([header, body])));
    return correlationId;
  }

  /** The server closed the connection (or close() did). */
  get isClosed(): boolean {
    return this.ended;
  }

  /** Closes the connection from this side. */
  async close(): Promise<void> {
    this.socket.destroy();
    await this.closed;
  }

  /** Stops reading the socket (a client that does not read its answers); resume() reads on. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next response frame (without its size prefix), or null when the server closed the connection first. */
  response(): Promise<Buffer | null> {
    const ready = this.frames.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private received(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
      const size = this.buffered.readInt32BE(0);
      const body = this.buffered.subarray(4, 4 + size);
      this.buffered = this.buffered.subarray(4 + size);
      const waiter = this.waiting.shift();
      if (waiter !== undefined) waiter(body);
      else this.frames.push(body);
    }
  }
}

/** A size prefix and the bytes. */
export function frame(body: Buffer): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeInt32BE(body.length);
  return Buffer.concat([prefix, body]);
}
