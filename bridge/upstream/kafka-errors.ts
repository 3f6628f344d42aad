// Turns what the Kafka client throws (nested MultipleErrors, protocol errors, socket errors) into
// one typed TributaryError whose message names the root cause in a line.
import { TributaryError } from '../../broker/errors.js';
import { UpstreamAuthError, UpstreamFencedError, UpstreamUnavailableError } from './errors.js';

const AUTH_API_ERRORS = new Set(['SASL_AUTHENTICATION_FAILED', 'ILLEGAL_SASL_STATE', 'UNSUPPORTED_SASL_MECHANISM', 'TOPIC_AUTHORIZATION_FAILED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED']);
/**
 * Node's codes for a TLS handshake that was refused (bad or untrusted certificate, protocol or
 * cipher mismatch, alert from the peer), as opposed to a connection reset or timeout during the
 * handshake (ECONNRESET, ETIMEDOUT: a network problem). Classified on codes, not message text.
 */
const TLS_REFUSAL_CODE = /^(ERR_SSL_|ERR_TLS_CERT_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_|ERR_TLS_INVALID_PROTOCOL|HOSTNAME_MISMATCH$)/;
const FENCED_API_ERRORS = new Set(['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH']);

interface ClientError {
  code?: string;
  apiId?: string;
  message: string;
  cause?: unknown;
  errors?: unknown[];
}

export function upstreamError(err: unknown, brokers: readonly string[]): TributaryError {
  if (err instanceof TributaryError) return err;
  const leaves = leafErrors(err);
  const causes = [...new Set(leaves.map(describe))].slice(-3).join('; ');
  const where = brokers.join(',');
  if (leaves.some((e) => e.code === 'PLT_KFK_AUTHENTICATION' || AUTH_API_ERRORS.has(e.apiId ?? '') || TLS_REFUSAL_CODE.test(e.code ?? ''))) {
    return new UpstreamAuthError(`Kafka at ${where} refused the connection's credentials: ${causes}`, { cause: err });
  }
  if (leaves.some((e) => FENCED_API_ERRORS.has(e.apiId ?? ''))) {
    return new UpstreamFencedError(`a newer producer with this node's transactional id took over at ${where}: ${causes}`, { cause: err });
  }
  return new UpstreamUnavailableError(`Kafka at ${where} is unavailable: ${causes}`, { cause: err });
}

/**
 * Whether Kafka answered with the protocol error `apiId` (e.g. TOPIC_ALREADY_EXISTS) anywhere in
 * what the client threw: decided on Kafka's error code, which the client names, never on text.
 */
export function hasKafkaError(err: unknown, apiId: string): boolean {
  return leafErrors(err).some((e) => e.apiId === apiId);
}

/** The innermost errors of a tree of MultipleErrors and causes, in order. */
function leafErrors(err: unknown, depth = 0): ClientError[] {
  if (err === null || typeof err !== 'object' || depth > 8) return [{ message: String(err) }];
  const e = err as ClientError;
  const inner = [...(Array.isArray(e.errors) ? e.errors : []), ...(e.cause !== undefined ? [e.cause] : [])];
  const leaves = inner.flatMap((i) => leafErrors(i, depth + 1));
  // Keep the protocol error itself (it carries apiId) as well as what it wraps.
  return e.apiId !== undefined || leaves.length === 0 ? [e, ...leaves] : leaves;
}

function describe(e: ClientError): string {
  const api = e.apiId !== undefined ? `${e.apiId}: ` : '';
  return `${api}${e.message}`.replace(/\s+/g, ' ').trim();
}
