// The MQTT front end's errors.
import { TributaryError, type TributaryErrorOptions } from '../../broker/errors.js';

export const MQTT_ERROR_CODES = [
  'TRIB_MQTT_SESSION_STORE',
  'TRIB_MQTT_PROTOCOL_VIOLATION',
  'TRIB_MQTT_PUBLISH_REFUSED',
  'TRIB_MQTT_APPEND_FAILED',
] as const;
export type MqttErrorCode = (typeof MQTT_ERROR_CODES)[number];

/** The MQTT session store (subscriptions, retained messages, wills, queued deliveries) failed. */
export class SessionStoreError extends TributaryError<MqttErrorCode> {
  readonly code = 'TRIB_MQTT_SESSION_STORE';
  readonly retriable = false;
  constructor(message: string, options?: TributaryErrorOptions) {
    super(`MQTT session store: ${message}`, options);
  }
}

/**
 * The errors the front end closes a connection with (a refusal). aedes reports the connection's end
 * as a client error too; the front end has reported the refusal already and reports that once.
 */
abstract class Refusal extends TributaryError<MqttErrorCode> {}

/** Whether `err` is one of the front end's refusals (it closed the connection on purpose). */
export function isRefusal(err: unknown): boolean {
  return err instanceof Refusal;
}

/**
 * A packet broke a rule of MQTT that aedes does not check (a CONNECT's fields, a topic filter):
 * [MQTT-4.8.0-1] the connection is closed.
 */
export class ProtocolViolationError extends Refusal {
  readonly code = 'TRIB_MQTT_PROTOCOL_VIOLATION';
  readonly retriable = false;
}

/**
 * A publish was refused (a limit, the ACL, the mapping). MQTT 3.1.1 has no negative
 * acknowledgement for a publish: the connection is closed, the message neither stored nor
 * acknowledged.
 */
export class PublishRefusedError extends Refusal {
  readonly code = 'TRIB_MQTT_PUBLISH_REFUSED';
  readonly retriable = false;
  constructor(
    readonly topic: string,
    readonly reason: string,
    detail?: string,
    /** What an MQTT 5.0 publisher is told in PUBACK / PUBREC (reason-codes.ts); aedes reads it. */
    readonly reasonCode?: number,
  ) {
    super(`publish to '${topic}' refused: ${reason}${detail === undefined ? '' : ` ${detail}`}`);
  }
}

/**
 * The log append of a publish failed, and is not retried (the failure does not pass, the node is
 * stopping): the connection is closed without an acknowledgement. The message and `retriable`
 * are the log's (`cause`, e.g. TRIB_LOG_READ_ONLY): the client may send the message again.
 */
export class AppendFailedError extends Refusal {
  readonly code = 'TRIB_MQTT_APPEND_FAILED';
  readonly retriable: boolean;
  /** An MQTT 5.0 publisher is told 0x80 (unspecified error) in PUBACK / PUBREC; aedes reads it. */
  readonly reasonCode = 0x80;
  constructor(cause?: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.retriable = cause instanceof TributaryError && cause.retriable;
  }
}

/**
 * A refused CONNECT, handed to aedes' authenticate callback: aedes reads `returnCode` and answers
 * CONNACK with it (MQTT 3.1.1 section 3.2.2.3: 2 identifier rejected, 3 server unavailable, 4 bad
 * user name or password, 5 not authorized). Not a TributaryError: it never leaves the front end.
 */
export class ConnectRefusal extends Error {
  /** MQTT 5.0: the server to use instead; aedes answers CONNACK 0x9C (Use another server) with it as Server Reference. */
  readonly serverReference?: string;
  /** MQTT 5.0: the CONNACK reason code, when the 3.1.1 return code's own (aedes's table) says too little (patches/ 011). */
  readonly reasonCode?: number;

  constructor(
    message: string,
    readonly returnCode: 2 | 3 | 4 | 5,
    options?: { cause?: unknown; serverReference?: string; reasonCode?: number },
  ) {
    super(message, options);
    this.name = 'ConnectRefusal';
    if (options?.serverReference !== undefined) this.serverReference = options.serverReference;
    if (options?.reasonCode !== undefined) this.reasonCode = options.reasonCode;
  }
}
