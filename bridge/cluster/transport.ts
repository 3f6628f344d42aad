// The replication listener and the connections to peers: Kafka protocol frames over TCP
// (messages.ts), requests matched to responses by correlation id, several in flight on one
// connection. A peer connection is made on first use and made again after it drops.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type PeerCertificate, type TLSSocket } from 'node:tls';
import { FrameDecoder } from '../kafka/protocol/frame-decoder.js';
import { FrameAssembler } from './frame-assembler.js';
import { listen } from '../net/listen.js';
import type { Logger } from '../logger.js';
import { Reader, Writer, writeRequestHeader } from './messages.js';
import { PeerRefusedError } from './errors.js';

/** The largest replication frame: a fetch answer of cluster.fetchMaxBytes plus its small fields. */
const FRAME_SLACK = 64 * 1024;
/** A peer connection's read buffer (net's default read size). */
const READ_BUFFER_BYTES = 64 * 1024;

/** `peer`: the node id the connection's client certificate names (mutual TLS), null without TLS. */
export type RequestHandler = (apiKey: number, body: Reader, peer: string | null) => Promise<Writer>;

/**
 * Mutual TLS between the nodes (cluster.tls): each presents its certificate, signed by the
 * cluster's CA and naming its node id (CN or a DNS subjectAltName); each checks the other's.
 */
export interface ReplicationTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** The node ids a certificate names: its subject CN and its DNS subjectAltNames. */
export function certificateNames(cert: PeerCertificate): string[] {
  const names = typeof cert.subject?.CN === 'string' ? [cert.subject.CN] : [];
  for (const entry of (cert.subjectaltname ?? '').split(',')) {
    const [kind, value] = entry.trim().split(':');
    if (kind === 'DNS' && value !== undefined) names.push(value);
  }
  return names;
}

/** OpenSSL's certificate verification results, as Node names them on a TLS socket's error. */
const CERTIFICATE_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
]);

/**
 * Why a peer's listener and this node do not accept each other, from the error a connection ended
 * with: a TLS handshake that failed either way (a certificate of another CA, one that names
 * another node, TLS on one side only) or an identity refused (TRIB_CLUSTER_PEER_REFUSED). null: not
 * a refusal (the peer is down, unreachable, or closed the connection).
 */
export function refusalCause(err: Error): string | null {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'TRIB_CLUSTER_PEER_REFUSED' || code === 'EPROTO' || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || CERTIFICATE_ERRORS.has(code)) return `${code}: ${err.message}`;
  return null;
}

/**
 * Refusals logged once per change of cause for each remote address (a peer with a wrong
 * certificate retries for as long as it runs): the first, then only one with another cause.
 */
class RefusalLog {
  readonly #last = new Map<string, string>();
  constructor(private readonly logger: Logger) {}

  warn(remote: string | undefined, cause: string, fields: Record<string, unknown>, message: string): void {
    const key = remote ?? '';
    if (this.#last.get(key) === cause) return;
    if (this.#last.size >= 1024) this.#last.clear(); // many addresses: a scan; keep it bounded
    this.#last.set(key, cause);
    this.logger.warn({ code: 'TRIB_CLUSTER_PEER_REFUSED', remote, ...fields }, `${message} (logged again for this address only when the cause changes)`);
  }
}

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

  static async start(options: { host: string; port: number; maxBytes: number; handler: RequestHandler; logger: Logger; tls?: ReplicationTls | null; peerIds?: readonly string[] }): Promise<ReplicationServer> {
    const sockets = new Set<Socket>();
    const refusals = new RefusalLog(options.logger);
    const serve = (socket: Socket, peer: string | null): void => {
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
          options.handler(apiKey, reader, peer).then(
            (body) => {
              if (!socket.destroyed) send(socket, new Writer().int32(correlationId), body);
            },
            (err: unknown) => {
              if (err instanceof PeerRefusedError) refusals.warn(socket.remoteAddress, `API ${apiKey}: ${err.message}`, { err, apiKey }, 'replication request refused; connection closed');
              else options.logger.warn({ err, apiKey, remote: socket.remoteAddress }, 'replication request failed; connection closed');
              socket.destroy();
            },
          );
        }
      });
    };
    const tls = options.tls ?? null;
    const server = tls === null ? createServer((socket) => serve(socket, null)) : peersOnly(tls, options.peerIds ?? [], refusals, sockets, serve);
    await listen(server, 'the replication listener (cluster.listen)', options.host, options.port);
    return new ReplicationServer(server, sockets, (server.address() as { port: number }).port);
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The listener under mutual TLS: a client without a certificate of the cluster's CA fails the
 * handshake, one whose certificate names no peer is closed; both are logged (TRIB_CLUSTER_PEER_REFUSED).
 */
function peersOnly(tls: ReplicationTls, peerIds: readonly string[], refusals: RefusalLog, sockets: Set<Socket>, serve: (socket: Socket, peer: string) => void): Server {
  const server = createTlsServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (socket: TLSSocket) => {
    const names = certificateNames(socket.getPeerCertificate());
    const peer = names.find((name) => peerIds.includes(name));
    if (peer === undefined) {
      refusals.warn(socket.remoteAddress, `names ${names.join(', ')}`, { names }, 'replication connection refused: its certificate names no peer of cluster.peers');
      socket.destroy();
      return;
    }
    serve(socket, peer);
  });
  server.on('tlsClientError', (err, socket) => {
    refusals.warn(socket.remoteAddress, (err as NodeJS.ErrnoException).code ?? err.message, { reason: err.message }, 'replication connection refused: no certificate of the cluster\'s CA (cluster.tls.ca)');
    sockets.delete(socket);
  });
  return server;
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
  /** The peer refuses this node's connections (refusalCause), since when; null: it answers, or is down. */
  #refusal: { cause: string; since: number } | null = null;

  constructor(
    readonly peerId: string,
    private readonly host: string,
    private readonly port: number,
    private readonly maxBytes: number,
    private readonly tls: ReplicationTls | null = null,
    /** Refusals are logged here, once per change of cause; null: not logged. */
    private readonly logger: Logger | null = null,
  ) {}

  /** Why the peer refuses this node's connections (TLS or authentication), and since when; null: it does not. */
  get refusal(): { cause: string; since: number } | null {
    return this.#refusal;
  }

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
    const assembler = new FrameAssembler(this.maxBytes + FRAME_SLACK, 4);
    const received = (bytes: Buffer): void => {
      let frames: Buffer[];
      try {
        frames = assembler.push(bytes);
      } catch (err) {
        if (this.socket === socket) this.drop(err as Error);
        else socket.destroy();
        return;
      }
      this.answered(frames);
    };
    // Plain TCP reads into one buffer of this connection's (frame-assembler.ts), not a new one per read.
    const readInto = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    const socket =
      this.tls === null
        ? createConnection({ host: this.host, port: this.port, onread: { buffer: readInto, callback: (n: number) => (received(readInto.subarray(0, n)), true) } })
        : this.connectTls(this.tls);
    socket.setNoDelay(true);
    if (this.tls !== null) socket.on('data', received);
    // Only the current connection's end fails the requests in flight: a connection dropped earlier
    // (a timeout) closes a moment later, when its successor may already carry a request.
    socket.on('error', (err) => {
      this.refused(err);
      if (this.socket === socket) this.drop(err);
    });
    socket.on('close', () => {
      if (this.socket === socket) this.drop(new Error(`connection to ${this.peerId} closed`));
    });
    this.socket = socket;
    return socket;
  }

  /** Each answer to its request, by correlation id (an answer to a request that timed out is dropped). */
  private answered(frames: readonly Buffer[]): void {
    for (const frame of frames) {
      const reader = new Reader(frame);
      const pending = this.pending.get(reader.int32());
      this.accepted();
      if (pending === undefined) continue;
      this.pending.delete(frame.readInt32BE(0));
      clearTimeout(pending.timer);
      pending.resolve(reader);
    }
  }

  /** Mutual TLS: this node's certificate, and the peer's must be of the cluster's CA and name its id. */
  private connectTls(tls: ReplicationTls): Socket {
    return tlsConnect({
      host: this.host,
      port: this.port,
      cert: tls.cert,
      key: tls.key,
      ca: tls.ca,
      minVersion: 'TLSv1.2',
      checkServerIdentity: (_host, cert) => (certificateNames(cert).includes(this.peerId) ? undefined : new PeerRefusedError(`the certificate at ${this.host}:${this.port} names ${certificateNames(cert).join(', ') || 'nothing'}, not the peer '${this.peerId}'`)),
    });
  }

  private refused(err: Error): void {
    const cause = refusalCause(err);
    if (cause === null || this.#refusal?.cause === cause) return;
    this.#refusal = { cause, since: Date.now() };
    this.logger?.warn({ code: 'TRIB_CLUSTER_PEER_REFUSED', peer: this.peerId, cause }, `the peer ${this.peerId} and this node refuse each other's replication connection (TLS or authentication); logged again only when the cause changes`);
  }

  private accepted(): void {
    if (this.#refusal === null) return;
    this.logger?.info({ peer: this.peerId, cause: this.#refusal.cause }, `the peer ${this.peerId} answers this node's replication requests again`);
    this.#refusal = null;
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

/** The peers that refuse this node's replication connections (TLS or authentication), for the status. */
export function refusingPeers(peers: Iterable<PeerConnection>, now: number): { id: string; cause: string; sinceMsAgo: number }[] {
  return [...peers].flatMap((p) => (p.refusal === null ? [] : [{ id: p.peerId, cause: p.refusal.cause, sinceMsAgo: now - p.refusal.since }]));
}

/** Splits "host:port" or "[v6]:port". */
export function parseAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(at + 1)) };
}

