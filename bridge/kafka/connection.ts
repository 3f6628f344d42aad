// One Kafka client connection: frames in, answers out, in the order the requests came (Kafka's
// one rule for a connection: responses go out in request order, so a long-poll Fetch holds the
// ones after it). A request is started when it arrives if nothing is unanswered; Produce requests
// are also started behind other unanswered Produce requests (a pipeline, at most PIPELINE_DEPTH
// requests and kafka.maxRequestSize bytes of them), so that a producer's in-flight requests
// (max.in.flight.requests.per.connection, 5 by default in the Java client) share the log's group
// commits instead of waiting for one fsync each. Their appends are issued in request order: a
// handler issues its appends before its first await (Produce: Log.appendBatch, which hands the
// batch to the writer thread at once), and requests are started in order, so sequence checks and
// offsets follow the request order; a handler that must await first (a compressed batch is
// decompressed before it is appended) issues its appends through RequestContext.inOrder, which
// runs them in the order asked. Answers are written strictly in that order. Any other request
// waits until everything before it is answered, and nothing starts behind it until it is answered
// (SASL state, group APIs and the rest see the connection as one request at a time).
// Backpressure: the socket is paused while the pipeline is full or a frame waits to start, and
// while an answer the client does not read is not drained (the socket's 'drain'): what a
// connection can make the node hold is bounded by the pipeline (or one request frame, for any
// other API) and the answers of the requests in it. Bytes that are not a Kafka request close this
// connection, with a log line naming the cause; never the node. So does a request before a SASL
// authentication that kafka.sasl.required asks for, and a failed one (after its answer):
// sasl/session.ts.
import type { KafkaTraffic } from './traffic.js';
import { setMaxListeners } from 'node:events';
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
  context: Omit<ConnectionContext, 'signal' | 'logger' | 'session' | 'afterAnswer'>;
  security: KafkaSecurity;
  logger: Logger;
  /** Where requests and bytes are counted (the server's, for /metrics). */
  traffic?: KafkaTraffic;
}

/** The most requests a connection has started and not answered (Produce requests only go past one). */
export const PIPELINE_DEPTH = 16;
const PRODUCE_KEY = 0;

/** How a started request ended: its answer (null: none, Produce with acks 0), or the error that closes the connection. */
type Outcome = { ok: true; frame: Buffer[] | null } | { ok: false; err: unknown; header: RequestHeader | null };

interface Started {
  produce: boolean;
  bytes: number;
  outcome: Promise<Outcome>;
  /** Run once its answer is handed to the socket in full (RequestContext.afterAnswer). */
  afterAnswer: Array<() => void>;
}

export class KafkaConnection {
  private readonly decoder: FrameDecoder;
  /** Frames read and not started yet, in order. */
  private readonly waiting: Buffer[] = [];
  /** Requests started and not answered yet, in request order. */
  private readonly started: Started[] = [];
  private startedBytes = 0;
  private readonly closed = new AbortController();
  /** The answer loop runs (writes answers in order as they come). */
  private answering_ = false;
  /** An answer waits for the client to read (the socket's 'drain'). */
  private stalled = false;
  /** The socket is corked until the end of this tick (write). */
  private corked = false;
  private readonly logger: Logger;
  private readonly session: KafkaSession;
  /** The header of the request last started, for log lines. */
  private last: RequestHeader | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.decoder = new FrameDecoder(options.maxRequestSize);
    this.logger = options.logger.child({ remote: `${socket.remoteAddress}:${socket.remotePort}` });
    this.session = new KafkaSession(options.security, this.logger);
    // Each request in the pipeline waits on this signal once per partition (Log.waitFor, which
    // removes its listener when it settles): more than Node's warning threshold of 10 is normal.
    setMaxListeners(0, this.closed.signal);
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
    return this.started.length > 0 || this.waiting.length > 0;
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
    this.waiting.push(...frames);
    this.advance();
  }

  /** Starts what may start now, pauses or resumes the socket, and runs the answer loop if it is not running. */
  private advance(): void {
    while (this.waiting.length > 0 && !this.closed.signal.aborted && this.mayStart(this.waiting[0]!)) this.start(this.waiting.shift()!);
    if (this.closed.signal.aborted) return;
    if (this.waiting.length === 0 && !this.stalled && this.hasRoom()) this.socket.resume();
    else this.socket.pause();
    if (!this.answering_ && this.started.length > 0) void this.answerAll();
  }

  /** Whether `frame` may start now: when nothing is unanswered, or as a Produce behind Produce requests in a pipeline with room. */
  private mayStart(frame: Buffer): boolean {
    if (this.stalled) return false;
    if (this.started.length === 0) return true;
    return isProduce(frame) && !this.session.rawTokens && this.hasRoom() && this.startedBytes + frame.length <= this.options.maxRequestSize;
  }

  /** Nothing is unanswered, or only Produce requests, fewer than PIPELINE_DEPTH and under kafka.maxRequestSize bytes. */
  private hasRoom(): boolean {
    if (this.started.length === 0) return true;
    return this.started.length < PIPELINE_DEPTH && this.startedBytes < this.options.maxRequestSize && this.started.every((s) => s.produce);
  }

  /** Runs a request's handler now (its appends are issued in order: before its first await, or through inOrder); its outcome is awaited in order by answerAll. */
  private start(frame: Buffer): void {
    if (this.started.length > 0) this.options.traffic?.pipelined();
    let header: RequestHeader | null = null;
    const raw = this.session.rawTokens;
    const afterAnswer: Array<() => void> = [];
    const reply = raw ? this.rawToken(frame) : this.request(frame, (h) => (header = h), afterAnswer);
    const outcome = reply.then(
      (frame): Outcome => ({ ok: true, frame }),
      (err: unknown): Outcome => ({ ok: false, err, header }),
    );
    this.started.push({ produce: !raw && isProduce(frame), bytes: frame.length, outcome, afterAnswer });
    this.startedBytes += frame.length;
  }

  /** Writes the answers in request order as each is ready; waits for 'drain' when the client does not read. */
  private async answerAll(): Promise<void> {
    this.answering_ = true;
    try {
      while (this.started.length > 0 && !this.closed.signal.aborted) {
        const head = this.started[0]!;
        const outcome = await head.outcome;
        if (this.closed.signal.aborted) return;
        this.started.shift();
        this.startedBytes -= head.bytes;
        if (!outcome.ok) {
          this.refuse(outcome.err, outcome.header);
          return;
        }
        let drained = true;
        if (outcome.frame === null) runAll(head.afterAnswer);
        else drained = this.write(outcome.frame, head.afterAnswer);
        if (this.session.closeAfterAnswer) {
          this.socket.end();
          this.closed.abort();
          return;
        }
        if (!drained) {
          this.stalled = true;
          this.socket.pause();
          await this.drained();
          this.stalled = false;
        }
        this.advance();
      }
    } finally {
      this.answering_ = false;
    }
  }

  /** The last step queued by inOrder (RequestContext.inOrder): the next one starts once it settles. */
  private lastStep: Promise<unknown> = Promise.resolve();
  private readonly inOrder = <T>(step: () => Promise<T>): Promise<T> => {
    const run = this.lastStep.then(step);
    this.lastStep = run.catch(() => undefined);
    return run;
  };

  private async request(frame: Buffer, onHeader: (header: RequestHeader) => void, afterAnswer: Array<() => void>): Promise<Buffer[] | null> {
    const context = { ...this.options.context, signal: this.closed.signal, logger: this.logger, session: this.session, afterAnswer: (task: () => void) => void afterAnswer.push(task), inOrder: this.inOrder };
    const reply = await answer(frame, this.options.apis, context, (header) => {
      this.last = header;
      onHeader(header);
    });
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

  /**
   * Writes an answer's chunks in one go; `written` runs once the socket has handed all of them to
   * the system. Answers written in the same tick (a group commit completes several Produce
   * requests of the pipeline at once) leave in one system call: the socket stays corked until the
   * tick's end.
   */
  private write(frame: readonly Buffer[], written: Array<() => void> = []): boolean {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.cork();
    let ok = true;
    const last = frame.length - 1;
    frame.forEach((chunk, i) => {
      ok = i === last && written.length > 0 ? this.socket.write(chunk, (err) => err == null && runAll(written)) : this.socket.write(chunk);
    });
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

  /** Closes the connection for bytes that are not a request we can read, naming the cause (and the request, when its header was read). */
  private refuse(err: unknown, header: RequestHeader | null = this.last): void {
    const request = header === null ? {} : { apiKey: header.apiKey, apiVersion: header.apiVersion, clientId: header.clientId };
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

/** A Produce request (its api key, the frame's first two bytes). */
function isProduce(frame: Buffer): boolean {
  return frame.length >= 2 && frame.readInt16BE(0) === PRODUCE_KEY;
}

/** Runs each task; one that throws does not stop the others (they are optional work, such as a read-ahead). */
function runAll(tasks: ReadonlyArray<() => void>): void {
  for (const task of tasks) {
    try {
      task();
    } catch {
      // the work is redone, or its failure met, when it is needed
    }
  }
}
