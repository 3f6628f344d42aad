// The simulator's user-facing failures. device-sim imports nothing of Tributary's, so these are its
// own classes; its CLI turns each into one line on stderr and an exit code.

/** A bad flag or value: exit 2. */
export class SimUsageError extends Error {}

/** The broker cannot be reached, refuses the credentials or the TLS handshake fails: exit 1. */
export class SimConnectError extends Error {}

const CONNACK_REASONS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|EPROTO/;

/** Turns an MQTT.js connection failure into one sentence that says what to check. */
export function describeConnectFailure(where: string, err: Error & { code?: string | number }): SimConnectError {
  if (typeof err.code === 'number') {
    const reason = CONNACK_REASONS[err.code] ?? `return code ${err.code}`;
    const hint = err.code === 4 || err.code === 5 ? '; check --username/--password' : '';
    return new SimConnectError(`the broker at ${where} refused the connection: ${reason} (CONNACK ${err.code})${hint}`);
  }
  if (typeof err.code === 'string' && TLS_CODES.test(err.code)) {
    return new SimConnectError(`TLS handshake with ${where} failed: ${err.message}; pass the broker's CA with --ca FILE (or --insecure)`);
  }
  // Socket errors carry a code (ECONNREFUSED, ENOTFOUND, ...); MQTT.js's packet parser's do not.
  if (err.code === undefined) return new SimConnectError(`cannot connect to ${where}: it does not answer as an MQTT broker (${err.message})`);
  return new SimConnectError(`cannot connect to ${where}: ${err.message}`);
}

export function closedBeforeConnack(where: string): SimConnectError {
  return new SimConnectError(`cannot connect to ${where}: the connection closed before CONNACK (no MQTT broker there, or it timed out)`);
}
