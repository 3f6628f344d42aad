// The MQTT listeners: TCP, TLS (when a certificate is configured) and WebSocket. Each accepted
// connection passes admission (count and rate limits) and the frame guard (packet size) before
// aedes sees a byte of it.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, createSecureContext, type TLSSocket } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { TlsInvalidError } from '../../broker/errors.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { listen } from '../net/listen.js';
import type { ConnectionAdmission, Refusal } from './admission.js';
import { guardConnection, type StreamIntake } from './frame-guard.js';

export type Transport = 'tcp' | 'tls' | 'websocket';

export interface ListenerOptions {
  config: Config['mqtt'];
  /** The largest Remaining Length a packet may announce. */
  maxRemainingLength: number;
  admission: ConnectionAdmission;
  /** What takes packets off a connection before the broker parses them (the ingest fast path). */
  intake?: (socket: Duplex) => StreamIntake;
  /** Hands an admitted, guarded connection to the broker. */
  accept: (stream: Duplex, transport: Transport, req?: IncomingMessage) => void;
  onRefused: (reason: Refusal, transport: Transport) => void;
  logger: Logger;
}

export interface ListenerPorts {
  tcp: number;
  tls: number | null;
  websocket: number | null;
}

export class MqttListeners {
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Duplex>();
  #closing: Promise<void> | null = null;

  private constructor(private readonly options: ListenerOptions) {}

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
    this.#tcp = createTcpServer((socket) => this.admit(socket, 'tcp'));
    await this.serve(this.#tcp, 'MQTT (mqtt.port, --mqtt-port)', config.host, config.port);

    if (config.tls !== null) {
      const tls = config.tls;
      this.#tls = createTlsServer({
        ...loadTlsFiles(tls),
        requestCert: tls.clientCertificates !== 'none',
        rejectUnauthorized: tls.clientCertificates === 'require',
      });
      this.#tls.on('secureConnection', (socket: TLSSocket) => this.admit(socket, 'tls'));
      this.#tls.on('tlsClientError', (err) => this.options.logger.debug({ err }, 'TLS handshake failed'));
      await this.serve(this.#tls, 'MQTT over TLS (mqtt.tls.port)', config.host, tls.port);
    }

    if (config.websocket.enabled) {
      this.#ws = createHttpServer((_req, res) => res.writeHead(426, { upgrade: 'websocket' }).end('MQTT over WebSocket: connect with a WebSocket client\n'));
      const wss = new WebSocketServer({
        server: this.#ws,
        path: config.websocket.path,
        // A WebSocket frame may carry one whole MQTT packet (MQTT.js sends one per frame).
        maxPayload: this.options.maxRemainingLength + 5,
        // [MQTT-6.0.0-3] the subprotocol is "mqtt" (MQTT 3.1 clients say "mqttv3.1").
        handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
      });
      wss.on('connection', (websocket, req) => this.admit(createWebSocketStream(websocket), 'websocket', req));
      await this.serve(this.#ws, 'MQTT over WebSocket (mqtt.websocket.port, --ws-port)', config.host, config.websocket.port);
    }
  }

  private async serve(server: Server, what: string, host: string, port: number): Promise<void> {
    this.#servers.push(server);
    await listen(server, what, host, port);
  }

  private admit(socket: Duplex, transport: Transport, req?: IncomingMessage): void {
    const refusal = this.options.admission.admit();
    if (refusal !== null) {
      this.options.onRefused(refusal, transport);
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.options.admission.release();
    });
    if ('setNoDelay' in socket) (socket as Socket).setNoDelay(true);
    this.options.accept(guardConnection(socket, this.options.maxRemainingLength, this.options.intake?.(socket)), transport, req);
  }

  /** Stops accepting, then closes every open connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      for (const socket of this.#sockets) socket.destroy();
      this.#ws?.closeAllConnections();
      await Promise.all(closed);
    })();
    return this.#closing;
  }
}

function loadTlsFiles(tls: NonNullable<Config['mqtt']['tls']>): { cert: Buffer; key: Buffer; ca?: Buffer } {
  const read = (file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new TlsInvalidError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message, { cause: err });
    }
  };
  const files = { cert: read(tls.cert), key: read(tls.key), ...(tls.ca === null ? {} : { ca: read(tls.ca) }) };
  try {
    createSecureContext(files);
  } catch (err) {
    // OpenSSL names the problem (bad PEM, key does not match the certificate) but not the file.
    const file = /key/i.test((err as Error).message) ? tls.key : /ca|issuer/i.test((err as Error).message) && tls.ca !== null ? tls.ca : tls.cert;
    throw new TlsInvalidError(file, (err as Error).message, { cause: err });
  }
  return files;
}
