// Whether a host names this machine only: the config schema demands http.token off loopback, and
// the HTTP server's Host check lets loopback names through (bridge/http/host-check.ts).
import { isIP } from 'node:net';

/** 127.0.0.0/8, ::1, their IPv4-mapped form, and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./.test(bare);
  return false;
}
