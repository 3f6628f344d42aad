// The HTTP admin surface: health, readiness and the topic listing. It listens on 127.0.0.1 by
// default; the metrics, dashboard and record streaming of later issues join here.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Log } from '../../broker/log/log.js';
import { TributaryError } from '../../broker/errors.js';
import { listen } from '../net/listen.js';
import type { Logger } from '../logger.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  log: Log;
  logger: Logger;
  /** Whether every part of the node is up (the readiness probe). */
  isReady: () => boolean;
}

export class HttpServer {
  private readonly server: Server;
  private closing: Promise<void> | null = null;

  private constructor(private readonly options: HttpServerOptions) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  static async start(options: HttpServerOptions): Promise<HttpServer> {
    const http = new HttpServer(options);
    await listen(http.server, 'HTTP (http.port, --http-port)', options.host, options.port);
    return http;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (req.method !== 'GET') return sendJson(res, 405, { code: 'TRIB_HTTP_METHOD', message: 'only GET is served' });
      if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (url.pathname === '/readyz') {
        const ready = this.options.isReady();
        return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'starting' });
      }
      if (url.pathname === '/api/topics') return sendJson(res, 200, { topics: this.options.log.topics() });
      sendJson(res, 404, { code: 'TRIB_HTTP_NOT_FOUND', message: `no route for ${url.pathname}` });
    } catch (err) {
      if (err instanceof TributaryError) return sendJson(res, 400, err.toJSON());
      this.options.logger.error({ err, path: url.pathname }, 'HTTP request failed');
      sendJson(res, 500, { code: 'TRIB_HTTP_INTERNAL', message: 'internal error; see the server log' });
    }
  }

  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
