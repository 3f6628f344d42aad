// The HTTP admin surface: health, readiness, metrics, the dashboard and the JSON API. It listens
// on 127.0.0.1 by default; elsewhere it needs a bearer token (auth.ts). Routes with more than a
// line of logic live in their own files and are only dispatched from here.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CorruptBatchError, TributaryError, UnknownPartitionError, UnknownTopicError } from '../../broker/errors.js';
import { httpError } from './errors.js';
import { listen } from '../net/listen.js';
import type { Logger } from '../logger.js';
import { BearerAuth } from './auth.js';
import { HostCheck } from './host-check.js';
import { DASHBOARD_PAGE } from './dashboard-page.js';
import type { MetricsExposition, NodeStatus, RecordsReader } from './ports.js';
import { RecordsRoute } from './records.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  /** Readiness, topics, the dashboard's overview and the upstream forwarder's status. */
  status: NodeStatus;
  /** Topic details, record streams and named readers (the replay part's). */
  records: RecordsReader;
  /** http.token: null serves everything without one (loopback only). */
  token: string | null;
  /** http.allowedHosts: names besides http.host and loopback that Host may carry (host-check.ts). */
  allowedHosts?: readonly string[];
  metrics: MetricsExposition;
}

export class HttpServer {
  private readonly server: Server;
  /** Topic details, record streams and named readers (bridge/http/records.ts). */
  readonly records: RecordsRoute;
  private closing: Promise<void> | null = null;
  private readonly auth: BearerAuth;
  private readonly hostCheck: HostCheck;

  private constructor(private readonly options: HttpServerOptions) {
    this.auth = new BearerAuth(options.token);
    this.hostCheck = new HostCheck({ host: options.host, allowedHosts: options.allowedHosts ?? [], tokenRequired: options.token !== null });
    this.server = createServer((req, res) => this.handle(req, res));
    this.records = new RecordsRoute({ reader: options.records, logger: options.logger });
  }

  static async start(options: HttpServerOptions): Promise<HttpServer> {
    const http = new HttpServer(options);
    await listen(http.server, 'HTTP (http.port, --http-port)', options.host, options.port);
    return http;
  }

  /** 200 on the node that takes publishes (the cluster leader, or a node alone), 503 elsewhere: a health check for a virtual IP. */
  private sendRole(res: ServerResponse): void {
    const cluster = this.options.status.cluster?.() ?? null;
    if (cluster === null) return sendJson(res, 200, { role: 'leader', clustered: false });
    const { role, epoch, leaderId, nodeId } = cluster as { role: string; epoch?: number; leaderId?: string | null; nodeId?: string };
    sendJson(res, role === 'leader' ? 200 : 503, { role, nodeId, epoch, leaderId, clustered: true });
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = requestUrl(req);
    // `GET //` (an empty authority) or `OPTIONS *` is no URL: refused here, never an exception.
    if (url === null) return sendJson(res, 400, httpError('TRIB_HTTP_BAD_REQUEST', `'${req.url}' is not a request path`));
    const misdirected = this.hostCheck.refusal(req);
    if (misdirected !== null) return sendJson(res, misdirected.status, { code: misdirected.code, message: misdirected.message });
    if (RecordsRoute.serves(url.pathname)) {
      if (!this.auth.allows(req, url.pathname)) return this.unauthorized(res);
      this.records.handle(req, res, url, sendJson).catch((err: unknown) => this.fail(res, err, url));
      return;
    }
    try {
      if (req.method !== 'GET') return sendJson(res, 405, httpError('TRIB_HTTP_METHOD', 'only GET is served'));
      if (!this.auth.allows(req, url.pathname)) return this.unauthorized(res);
      if (url.pathname === '/' || url.pathname === '/index.html') return sendPage(res, DASHBOARD_PAGE);
      if (url.pathname === '/healthz') return sendJson(res, 200, { status: 'ok' });
      if (url.pathname === '/readyz') {
        const ready = this.options.status.isReady();
        return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'starting' });
      }
      if (url.pathname === '/api/topics') return sendJson(res, 200, { topics: this.options.status.topics() });
      if (url.pathname === '/api/overview') return sendJson(res, 200, this.options.status.overview());
      if (url.pathname === '/metrics') return this.sendMetrics(res);
      if (url.pathname === '/api/upstream') return sendJson(res, 200, this.options.status.upstream() ?? { enabled: false });
      if (url.pathname === '/api/cluster') return sendJson(res, 200, this.options.status.cluster?.() ?? { enabled: false, role: 'leader' });
      if (url.pathname === '/api/cluster/role') return this.sendRole(res);
      sendJson(res, 404, httpError('TRIB_HTTP_NOT_FOUND', `no route for ${url.pathname}`));
    } catch (err) {
      this.fail(res, err, url);
    }
  }

  private sendMetrics(res: ServerResponse): void {
    this.options.metrics.render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err: unknown) => {
        this.options.logger.error({ err }, 'collecting metrics failed');
        sendJson(res, 500, httpError('TRIB_HTTP_INTERNAL', 'collecting metrics failed; see the server log'));
      },
    );
  }

  private unauthorized(res: ServerResponse): void {
    res.setHeader('www-authenticate', 'Bearer realm="tributary"');
    sendJson(res, 401, httpError('TRIB_HTTP_UNAUTHORIZED', 'this path needs the bearer token of http.token (Authorization: Bearer ...)'));
  }

  private fail(res: ServerResponse, err: unknown, url: URL): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof TributaryError) {
      const missing = err instanceof UnknownTopicError || err instanceof UnknownPartitionError;
      // Stored data that fails its checks is the node's trouble, not the request's.
      const status = err instanceof CorruptBatchError ? 500 : missing ? 404 : 400;
      return sendJson(res, status, err.toJSON());
    }
    this.options.logger.error({ err, path: url.pathname }, 'HTTP request failed');
    sendJson(res, 500, httpError('TRIB_HTTP_INTERNAL', 'internal error; see the server log'));
  }

  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return this.closing;
  }
}

/** The request's path and query, parsed; null when they are not a path (`//`, `*`). */
function requestUrl(req: IncomingMessage): URL | null {
  const path = req.url ?? '/';
  if (!path.startsWith('/') || path.startsWith('//')) return null;
  try {
    return new URL(path, 'http://localhost');
  } catch {
    return null;
  }
}

function sendPage(res: ServerResponse, html: string): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    // The page loads nothing from elsewhere; say so, so that nothing injected could.
    'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
  });
  res.end(html);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
