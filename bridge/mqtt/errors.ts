// The MQTT front end's errors.
import { TributaryError, type TributaryErrorOptions } from '../../broker/errors.js';

export const MQTT_ERROR_CODES = [
  'TRIB_MQTT_SESSION_STORE',
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
 * A refused CONNECT, handed to aedes' authenticate callback: aedes reads `returnCode` and answers
 * CONNACK with it (MQTT 3.1.1 section 3.2.2.3: 2 identifier rejected, 3 server unavailable, 4 bad
 * user name or password, 5 not authorized). Not a TributaryError: it never leaves the front end.
 */
export class ConnectRefusal extends Error {
  constructor(
    message: string,
    readonly returnCode: 2 | 3 | 4 | 5,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ConnectRefusal';
  }
}
