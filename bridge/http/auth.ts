// Bearer-token access to the HTTP admin. On a loopback address the API is open (only this host
// can reach it); on any other address config validation demands http.token. The health probes and
// the dashboard's page itself stay open (they reveal nothing; the page asks for the token and
// sends it with its data requests): load balancers, Docker and Kubernetes probe without secrets.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Paths served without a token even when one is set. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/', '/index.html']);

export class BearerAuth {
  readonly #digest: Buffer | null;

  /** A null token lets every request through (loopback only, enforced by the config schema). */
  constructor(token: string | null) {
    this.#digest = token === null ? null : digest(token);
  }

  /** Whether the request may see `path`. Tokens are compared in constant time (of their digests). */
  allows(req: IncomingMessage, path: string): boolean {
    if (this.#digest === null || OPEN_PATHS.has(path)) return true;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (match === null) return false;
    return timingSafeEqual(digest(match[1]!), this.#digest);
  }
}

// Hashing first gives both sides the same length, which timingSafeEqual needs, without leaking
// the token's length through an early exit.
function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
