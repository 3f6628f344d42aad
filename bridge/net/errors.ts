// Errors of the network edge shared by the listeners (MQTT, HTTP) and the Kafka client's TLS.
import { TributaryError, type TributaryErrorOptions } from '../../broker/errors.js';

export const NET_ERROR_CODES = [
  'TRIB_LISTEN_FAILED',
  'TRIB_TLS_INVALID',
] as const;
export type NetErrorCode = (typeof NET_ERROR_CODES)[number];

export class ListenError extends TributaryError<NetErrorCode> {
  readonly code = 'TRIB_LISTEN_FAILED';
  readonly retriable = false;
  constructor(
    readonly what: string,
    readonly host: string,
    readonly port: number,
    options?: TributaryErrorOptions,
  ) {
    const reason = (options?.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE' ? 'the port is already in use' : String((options?.cause as Error | undefined)?.message ?? 'unknown error');
    super(`cannot listen for ${what} on ${host}:${port}: ${reason}`, options);
  }
}

/** The TLS listener's certificate, key or CA could not be read or does not parse. */
export class TlsInvalidError extends TributaryError<NetErrorCode> {
  readonly code = 'TRIB_TLS_INVALID';
  readonly retriable = false;
  constructor(
    readonly file: string,
    reason: string,
    options?: TributaryErrorOptions,
  ) {
    super(`TLS: cannot use '${file}': ${reason}`, options);
  }
}
