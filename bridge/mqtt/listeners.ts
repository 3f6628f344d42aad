// The MQTT listeners: TCP, TLS (when a certificate is configured) and WebSocket. Each accepted TCP
// connection passes admission (count, per-address and rate limits) and waits, bounded, for its
// CONNECT (pending-connects.ts) from the moment it is accepted, through the TLS or WebSocket
// handshake; its stream passes the frame guard (packet size) before aedes sees a byte of it.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { listen } from '../net/listen.js';
import { loadTlsFiles } from '../net/tls-files.js';
import { addressKey } from './address-key.js';
import type { ConnectionAdmission, Refusal } from './admission.js';
import { guardConnection, type PacketLimits, type StreamIntake } from './frame-guard.js';
import { PendingConnects, type PendingLimits } from './pending-connects.js';

/**
 * Connections the kernel queues for accept (it caps this at net.core.somaxconn). With Node's
 * default of 511, bursts of 250 connections on loopback saw a quarter of them wait a second for a
 * resent SYN; with 4096, none. Admission (below) is the place to refuse a burst, at once.
 */
const ACCEPT_BACKLOG = 4096;

export type Transport = 'tcp' | 'tls' | 'websocket';

export interface ListenerOptions {
  config: Config['mqtt'];
  /** The largest Remaining Length a packet, and the first one (the CONNECT), may announce. */
  packetLimits: PacketLimits;
  admission: ConnectionAdmission;
  /** Bounds on connections still waiting for their CONNECT. */
  pending: PendingLimits;
  /** What takes packets off a connection before the broker parses them (the ingest fast path). */
  intake?: (socket: Duplex) => StreamIntake;
  /** Hands an admitted, guarded connection to the broker. */
  accept: (stream: Duplex, transport: Transport, req?: IncomingMessage) => void;
  onRefused: (reason: Refusal, transport: Transport) => void;
  logger: Logger;
}

/** One accepted TCP connection, from accept to close. */
class Connection {
  #released = false;

  constructor(
    readonly socket: Socket,
    readonly address: string,
    readonly transport: Transport,
    private readonly admission: ConnectionAdmission,
  ) {}

  /** Gives its admission slot back; at once when it is closed to make room. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.admission.release(this.address);
  }
}

export interface ListenerPorts {
  tcp: number;
  tls: number | null;
  websocket: number | null;
}

export class MqttListeners {
  readonly #servers: Server[] = [];
  readonly #connections = new Set<Connection>();
  /** TLS sockets find their TCP connection by remote address and port (tls.Server hides the link). */
  readonly #tlsByPeer = new Map<string, Connection>();
  readonly #pending: PendingConnects<Connection>;
  #closing: Promise<void> | null = null;

  private constructor(private readonly options: ListenerOptions) {
    this.#pending = new PendingConnects(options.pending);
  }

  /** Connections accepted whose CONNECT has not arrived yet. */
  get waitingForConnect(): number {
    return this.#pending.size;
  }

  static async start(options: ListenerOptions): Promise<MqttListeners> {
    const listeners = new MqttListeners(options);
    try {
      await listeners.startAll();
    } catch (err) {
      await listeners.close();
      throw err;
    }
    return listeners;
  }

  get ports(): ListenerPorts {
    const portOf = (server: Server | undefined): number | null => (server === undefined ? null : (server.address() as AddressInfo).port);
    return { tcp: portOf(this.#tcp)!, tls: portOf(this.#tls), websocket: portOf(this.#ws) };
  }

  #tcp: Server | undefined;
  #tls: Server | undefined;
  #ws: HttpServer | undefined;

  private async startAll(): Promise<void> {
    const { config } = this.options;
    this.#tcp = createTcpServer((socket) => {
      const connection = this.admit(socket, 'tcp');
      if (connection !== null) this.accept(connection, socket);
    });
    await this.serve(this.#tcp, 'MQTT (mqtt.port, --mqtt-port)', config.host, config.port);

    if (config.tls !== null) {
      const tls = config.tls;
      this.#tls = createTlsServer({
        ...loadTlsFiles(tls),
        requestCert: tls.clientCertificates !== 'none',
        rejectUnauthorized: tls.clientCertificates === 'require',
      });
      // 'connection' comes with the TCP socket, before the handshake: admitted (and timed) there.
      this.#tls.on('connection', (socket: Socket) => {
        const connection = this.admit(socket, 'tls');
        if (connection === null) return;
        const peer = peerOf(socket);
        this.#tlsByPeer.set(peer, connection);
        socket.once('close', () => this.#tlsByPeer.delete(peer));
      });
      this.#tls.on('secureConnection', (socket: TLSSocket) => {
        const connection = this.#tlsByPeer.get(peerOf(socket));
        if (connection === undefined) socket.destroy();
        else this.accept(connection, socket);
      });
      this.#tls.on('tlsClientError', (err) => this.options.logger.debug({ err }, 'TLS handshake failed'));
      await this.serve(this.#tls, 'MQTT over TLS (mqtt.tls.port)', config.host, tls.port);
    }

    if (config.websocket.enabled) {
      const upgraded = new WeakMap<Socket, Connection>();
      this.#ws = createHttpServer((_req, res) => res.writeHead(426, { upgrade: 'websocket' }).end('MQTT over WebSocket: connect with a WebSocket client\n'));
      this.#ws.on('connection', (socket: Socket) => {
        const connection = this.admit(socket, 'websocket');
        if (connection !== null) upgraded.set(socket, connection);
      });
      const wss = new WebSocketServer({
        server: this.#ws,
        path: config.websocket.path,
        // A WebSocket frame may carry one whole MQTT packet (MQTT.js sends one per frame).
        maxPayload: this.options.packetLimits.maxRemainingLength + 5,
        // [MQTT-6.0.0-3] the subprotocol is "mqtt" (MQTT 3.1 clients say "mqttv3.1").
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      });
      wss.on('connection', (websocket, req) => {
        const connection = upgraded.get(req.socket as Socket);
        if (connection === undefined) websocket.terminate();
        else this.accept(connection, createWebSocketStream(websocket), req);
      });
      await this.serve(this.#ws, 'MQTT over WebSocket (mqtt.websocket.port, --ws-port)', config.host, config.websocket.port);
    }
  }

  private async serve(server: Server, what: string, host: string, port: number): Promise<void> {
    this.#servers.push(server);
    await listen(server, what, host, port, ACCEPT_BACKLOG);
  }

  /**
   * Admits a TCP connection and starts its wait for CONNECT, or refuses it (null). At a count
   * limit it displaces the oldest connection still waiting for its CONNECT, if there is one.
   */
  private admit(socket: Socket, transport: Transport): Connection | null {
    const { admission } = this.options;
    const pending = this.#pending;
    const address = addressKey(socket.remoteAddress);
    for (;;) {
      const refusal = admission.admit(address);
      if (refusal === null) break;
      const displaced = refusal === 'too many connections' ? pending.oldest() : refusal === 'too many connections from one address' ? pending.oldest(address) : undefined;
      if (displaced === undefined) {
        this.options.onRefused(refusal, transport);
        socket.destroy();
        return null;
      }
      this.drop(displaced, 'displaced while waiting for CONNECT');
    }
    const displaced = pending.toDisplace(address);
    if (displaced !== undefined) this.drop(displaced, 'displaced while waiting for CONNECT');

    const connection = new Connection(socket, address, transport, admission);
    this.#connections.add(connection);
    pending.add(connection, (late) => this.drop(late, 'CONNECT timeout'));
    socket.once('close', () => {
      this.#connections.delete(connection);
      pending.settle(connection);
      connection.release();
    });
    return connection;
  }

  /** Hands an admitted connection's stream (the socket, or TLS or WebSocket over it) to the broker. */
  private accept(connection: Connection, stream: Duplex, req?: IncomingMessage): void {
    if ('setNoDelay' in stream) (stream as Socket).setNoDelay(true);
    const connected = (): void => void this.#pending.settle(connection);
    this.options.accept(guardConnection(stream, this.options.packetLimits, this.options.intake?.(stream), connected), connection.transport, req);
  }

  /** Closes a connection for a limit, giving its slot back at once for the one that needs it. */
  private drop(connection: Connection, reason: Refusal): void {
    this.#pending.settle(connection);
    connection.release();
    this.options.onRefused(reason, connection.transport);
    connection.socket.destroy();
  }

  /** Stops accepting, then closes every open connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      this.#pending.clear();
      for (const connection of this.#connections) connection.socket.destroy();
      this.#ws?.closeAllConnections();
      await Promise.all(closed);
    })();
    return this.#closing;
  }
}

function peerOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}
