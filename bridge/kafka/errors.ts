// The Kafka endpoint's errors: what a connection is closed with when its bytes are not a Kafka
// request we can read. Each is logged once, naming the peer and the cause; the node stays up.
// (The protocol's own numeric error codes, which go to clients inside responses, are in
// protocol/error-codes.ts.)
import { TributaryError, type TributaryErrorOptions } from '../../broker/errors.js';

export const KAFKA_ERROR_CODES = [
  'TRIB_KAFKA_MALFORMED_REQUEST',
  'TRIB_KAFKA_FRAME_TOO_LARGE',
  'TRIB_KAFKA_UNAUTHENTICATED_REQUEST',
  'TRIB_KAFKA_AUTHENTICATION_FAILED',
  'TRIB_KAFKA_DECOMPRESSION',
] as const;
export type KafkaErrorCode = (typeof KAFKA_ERROR_CODES)[number];

/** A request frame that does not parse as the grammar of its API key and version says (the connection is closed). */
export class MalformedRequestError extends TributaryError<KafkaErrorCode> {
  readonly code = 'TRIB_KAFKA_MALFORMED_REQUEST';
  readonly retriable = false;
  constructor(message: string, options?: TributaryErrorOptions) {
    super(`malformed Kafka request: ${message}`, options);
  }
}

/** A length prefix above kafka.maxRequestSize, or too small to hold a request header (the connection is closed before the body is read). */
export class FrameSizeError extends TributaryError<KafkaErrorCode> {
  readonly code = 'TRIB_KAFKA_FRAME_TOO_LARGE';
  readonly retriable = false;
  constructor(
    readonly size: number,
    readonly maxSize: number,
  ) {
    super(size > maxSize ? `Kafka request frame of ${size} bytes is over kafka.maxRequestSize (${maxSize} bytes)` : `Kafka request frame of ${size} bytes cannot hold a request header`);
  }
}

/** A request other than ApiVersions, SaslHandshake and SaslAuthenticate before SASL authentication succeeded, while it is required (the connection is closed, as Kafka's broker does). */
export class UnauthenticatedRequestError extends TributaryError<KafkaErrorCode> {
  readonly code = 'TRIB_KAFKA_UNAUTHENTICATED_REQUEST';
  readonly retriable = false;
  constructor(readonly apiKey: number = -1) {
    super(`Kafka request (API key ${apiKey}) before SASL authentication, which kafka.sasl.required asks for`);
  }
}

/** A SASL exchange that did not prove a user: answered SASL_AUTHENTICATION_FAILED, logged with the user and the reason, and the connection closed. */
export class AuthenticationFailedError extends TributaryError<KafkaErrorCode> {
  readonly code = 'TRIB_KAFKA_AUTHENTICATION_FAILED';
  readonly retriable = false;
  constructor(readonly user: string | null = null, reason = 'bad user name or password') {
    super(`Kafka SASL authentication failed${user === null ? '' : ` for user '${user}'`}: ${reason}`);
  }
}

/** What is wrong with a compressed batch: a codec id Kafka does not define, bytes that do not decode, or more than the limit once decoded. */
export type DecompressionProblem = 'unsupported' | 'corrupt' | 'too-large';

/**
 * A Produce partition's compressed batch that could not be turned into an uncompressed one
 * (protocol/compression.ts): answered UNSUPPORTED_COMPRESSION_TYPE, CORRUPT_MESSAGE or
 * MESSAGE_TOO_LARGE, with a warning naming the client, the partition and the cause; nothing of it
 * is stored and the connection goes on.
 */
export class DecompressionError extends TributaryError<KafkaErrorCode> {
  readonly code = 'TRIB_KAFKA_DECOMPRESSION';
  readonly retriable = false;
  constructor(
    readonly problem: DecompressionProblem = 'corrupt',
    readonly codec: string = 'unknown',
    reason = 'the compressed records do not decode',
  ) {
    super(reason);
  }
}
