// One Kafka client connection: frames in, answers out, one request at a time and in order (Kafka
// answers a connection's requests in the order they came, so a long-poll Fetch holds the ones
// after it). While a request is being answered the socket is paused, and an answer the client
// does not read holds the next one back (the socket's 'drain'): what a connection can make the
// node hold is one request frame (kafka.maxRequestSize) and one answer. Bytes that are not a
// Kafka request close this connection, with a log line naming the cause; never the node. So does
// a request before a SASL authentication that kafka.sasl.required asks for, and a failed one
// (after its answer): sasl/session.ts.
import type { KafkaTraffic } from './traffic.js';
import type { Socket } from 'node:net';
import type { Logger } from '../logger.js';
import type { ApiHandler } from './apis/api.js';
import { answer, type ConnectionContext } from './dispatch.js';
import type { RequestHeader } from './protocol/header.js';
import { FrameSizeError, MalformedRequestError, UnauthenticatedRequestError } from './errors.js';
import { FrameDecoder, MIN_FRAME_BYTES } from './protocol/frame-decoder.js';
import { Writer } from './protocol/writer.js';
import { KafkaSession, type KafkaSecurity } from './sasl/session.js';

export interface ConnectionOptions {
  maxRequestSize: number;
  apis: ReadonlyMap<number, ApiHandler>;
  /** What handlers see of the node (the broker identity may depend on the address the client reached). */
  context: Omit<ConnectionContext, 'signal' | 'logger' | 'session'>;
  security: KafkaSecurity;
  logger: Logger;
  /** Where requests and bytes are counted (the server's, for /metrics). */
  traffic?: KafkaTraffic;
}

export class KafkaConnection {
  private readonly decoder: FrameDecoder;
  private readonly queue: Buffer[] = [];
  private readonly closed = new AbortController();
  private busy = false;
  private readonly logger: Logger;
  private readonly session: KafkaSession;
  /** The header of the request being answered (or the last one), for log lines. */
  private last: RequestHeader | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.decoder = new FrameDecoder(options.maxRequestSize);
    this.logger = options.logger.child({ remote: `${socket.remoteAddress}:${socket.remotePort}` });
    this.session = new KafkaSession(options.security, this.logger);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', (err) => this.logger.debug({ err }, 'Kafka connection error'));
    socket.on('close', () => this.closed.abort());
    this.logger.debug('Kafka client connected');
  }

  /** Ends the connection (the server is stopping); a pending long poll stops waiting. */
  destroy(): void {
    this.closed.abort();
    this.socket.destroy();
  }

  /** A request is being answered (read, waited on in a long poll, or written). */
  get answering(): boolean {
    return this.busy;
  }

  get done(): AbortSignal {
    return this.closed.signal;
  }

  private received(chunk: Buffer): void {
    let frames: Buffer[];
    this.decoder.minBytes = this.session.rawTokens ? 0 : MIN_FRAME_BYTES;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.refuse(err);
      return;
    }
    if (frames.length === 0) return;
    this.queue.push(...frames);
    this.socket.pause();
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let frame = this.queue.shift(); frame !== undefined && !this.closed.signal.aborted; frame = this.queue.shift()) {
        const reply = this.session.rawTokens ? await this.rawToken(frame) : await this.request(frame);
        if (this.closed.signal.aborted) return;
        const drained = reply === null || this.write(reply);
        if (this.session.closeAfterAnswer) {
          this.socket.end();
          this.closed.abort();
          return;
        }
        if (!drained) await this.drained();
      }
    } catch (err) {
      this.refuse(err);
      return;
    } finally {
      this.busy = false;
    }
    if (!this.closed.signal.aborted) this.socket.resume();
  }

  private async request(frame: Buffer): Promise<Buffer[] | null> {
    const reply = await answer(frame, this.options.apis, { ...this.options.context, signal: this.closed.signal, logger: this.logger, session: this.session }, (header) => (this.last = header));
    const { apiKey, apiVersion, clientId } = reply.header;
    const traffic = this.options.traffic;
    traffic?.request(this.options.apis.get(apiKey)?.name ?? `key ${apiKey}`, frame.length);
    if (reply.unsupported) {
      traffic?.failure('unsupported');
      this.logger.warn({ apiKey, apiVersion, clientId }, 'Kafka request of an API or version not served: answered UNSUPPORTED_VERSION');
    }
    if (reply.frame !== null) traffic?.sent(reply.frame);
    return reply.frame;
  }

  /**
   * A bare SASL token after a SaslHandshake v0 (KIP-43): answered with a bare size-prefixed token;
   * a failed exchange gets no answer, only the close (Kafka's broker does the same).
   */
  private async rawToken(frame: Buffer): Promise<Buffer[] | null> {
    const result = await this.session.token(frame);
    if (result.kind === 'failed') return null;
    return new Writer().int32(result.bytes.length).bytes(result.bytes).chunks();
  }

  private write(frame: readonly Buffer[]): boolean {
    this.socket.cork();
    let ok = true;
    for (const chunk of frame) ok = this.socket.write(chunk);
    this.socket.uncork();
    return ok;
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.closed.signal.removeEventListener('abort', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.closed.signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Closes the connection for bytes that are not a request we can read, naming the cause. */
  private refuse(err: unknown): void {
    const request = this.last === null ? {} : { apiKey: this.last.apiKey, apiVersion: this.last.apiVersion, clientId: this.last.clientId };
    this.options.traffic?.failure(err instanceof UnauthenticatedRequestError ? 'unauthenticated' : err instanceof MalformedRequestError || err instanceof FrameSizeError ? 'malformed' : 'failed');
    if (err instanceof UnauthenticatedRequestError) {
      this.logger.warn({ code: err.code, ...request }, 'Kafka connection closed: request before SASL authentication');
    } else if (err instanceof MalformedRequestError || err instanceof FrameSizeError) {
      this.logger.warn({ code: err.code, ...request, reason: err.message }, 'Kafka connection closed: not a request we can read');
    } else {
      this.logger.error({ err, ...request }, 'Kafka connection closed: request failed');
    }
    this.destroy();
  }
}
