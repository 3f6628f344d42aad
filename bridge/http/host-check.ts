// Where a request says it is going (Host) and where it comes from (Origin). Without a token the API
// is open to anything on this host, and a web page is on this host too: through DNS rebinding
// (evil.example.com re-resolved to 127.0.0.1) its scripts reach the API as same-origin to
// themselves. Their requests still carry the page's name in Host, so a Host that is not a name of
// this server is refused (RFC 9110 §7.4: 421 Misdirected Request). With a token the token is the
// guard (a page cannot send what it does not have) and any Host is served, so probes and proxies
// that use an IP address or another name keep working.
//
// State-changing requests (anything but GET/HEAD) from a browser carry Origin; one from another
// origin than the server's own is refused (403) in either mode: only the dashboard, served here,
// has reason to send one, and CLI clients send none.
import type { IncomingMessage } from 'node:http';
import { isLoopbackHost } from '../shared/loopback.js';
import type { HttpErrorCode } from './errors.js';

export interface HostCheckOptions {
  /** http.host: the address (or name) the server is bound to. */
  host: string;
  /** http.allowedHosts: further names (or addresses) the server may be reached by. */
  allowedHosts: readonly string[];
  /** Whether a bearer token guards the API (http.token set). */
  tokenRequired: boolean;
}

export interface HostRefusal {
  status: 403 | 421;
  code: Extract<HttpErrorCode, 'TRIB_HTTP_HOST' | 'TRIB_HTTP_ORIGIN'>;
  message: string;
}

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export class HostCheck {
  readonly #names: ReadonlySet<string>;

  constructor(private readonly options: HostCheckOptions) {
    this.#names = new Set([options.host, ...options.allowedHosts].map(bareName));
  }

  /** Null when the request may be served, else why not. */
  refusal(req: IncomingMessage): HostRefusal | null {
    const host = req.headers.host;
    if (!this.options.tokenRequired && host !== undefined && !this.#isOwnName(host)) {
      return {
        status: 421,
        code: 'TRIB_HTTP_HOST',
        message: `Host '${host}' is not a name of this server; if you reach it by that name, add it to http.allowedHosts`,
      };
    }
    const origin = req.headers.origin;
    if (!SAFE_METHODS.has(req.method ?? 'GET') && origin !== undefined && !sameOrigin(origin, host)) {
      return { status: 403, code: 'TRIB_HTTP_ORIGIN', message: `${req.method} from the web page of ${origin} refused: only this server's own pages may change state` };
    }
    return null;
  }

  #isOwnName(host: string): boolean {
    const name = hostnameOf(host);
    // Loopback addresses and `localhost` cannot be made to point at a page's server by DNS.
    return name !== null && (isLoopbackHost(name) || this.#names.has(name));
  }
}

/** The host name of a Host header (`name:port`, `[::1]:port`), lower case, brackets kept off; null if unparsable. */
function hostnameOf(host: string): string | null {
  try {
    return bareName(new URL(`http://${host}`).hostname);
  } catch {
    return null;
  }
}

function bareName(name: string): string {
  return name.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
}

/**
 * Whether Origin (`scheme://host[:port]`) names the server the request was sent to (its Host). The
 * scheme is not compared: https is this server behind a TLS proxy, as no other can own its port.
 */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === new URL(`http://${host}`).host;
  } catch {
    return false; // includes Origin: null (sandboxed frames, file: pages)
  }
}
