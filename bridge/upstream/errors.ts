// The upstream forwarder's errors: Kafka unreachable, refusing us, holding cursors we cannot use,
// or lacking a topic we were told not to create.
import { TributaryError } from '../../broker/errors.js';

export const UPSTREAM_ERROR_CODES = [
  'TRIB_UPSTREAM_UNAVAILABLE',
  'TRIB_UPSTREAM_AUTH',
  'TRIB_UPSTREAM_FENCED',
  'TRIB_UPSTREAM_CURSOR_CONFLICT',
  'TRIB_UPSTREAM_CURSOR_TOPIC',
  'TRIB_UPSTREAM_TOPIC_MISSING',
] as const;
export type UpstreamErrorCode = (typeof UPSTREAM_ERROR_CODES)[number];

/** Kafka could not be reached or failed a request; the forwarder retries with backoff. */
export class UpstreamUnavailableError extends TributaryError<UpstreamErrorCode> {
  readonly code = 'TRIB_UPSTREAM_UNAVAILABLE';
  readonly retriable = true;
}

/** Kafka refused the SASL credentials (or the TLS handshake). Retried, since an operator may fix the cluster side. */
export class UpstreamAuthError extends TributaryError<UpstreamErrorCode> {
  readonly code = 'TRIB_UPSTREAM_AUTH';
  readonly retriable = true;
}

/** A newer producer with this node's transactional id took over: another process forwards as this node. */
export class UpstreamFencedError extends TributaryError<UpstreamErrorCode> {
  readonly code = 'TRIB_UPSTREAM_FENCED';
  readonly retriable = true;
}

/**
 * The upstream cursors of this node were written by another log (another gateway with the same
 * node.id, or this data directory was reset): resuming from them would skip or mix records.
 */
export class UpstreamCursorConflictError extends TributaryError<UpstreamErrorCode> {
  readonly code = 'TRIB_UPSTREAM_CURSOR_CONFLICT';
  readonly retriable = false;
}

/**
 * The exactly-once cursor topic exists upstream without cleanup.policy compact: Kafka would delete
 * cursors by age or size, and the forwarder would then send everything still stored again.
 */
export class UpstreamCursorTopicError extends TributaryError<UpstreamErrorCode> {
  readonly code = 'TRIB_UPSTREAM_CURSOR_TOPIC';
  // Retried: the topic's config can be fixed on the cluster without restarting the gateway.
  readonly retriable = true;
}

/**
 * With `upstream.createTopics: false`, an upstream topic (a log topic's, or the exactly-once cursor
 * topic) does not exist. A config problem, not an outage: retrying would only hide it as
 * "Kafka unavailable", so forwarding stops until the topic is created and the gateway restarted.
 */
export class UpstreamTopicMissingError extends TributaryError<UpstreamErrorCode> {
  readonly code = 'TRIB_UPSTREAM_TOPIC_MISSING';
  readonly retriable = false;
}
