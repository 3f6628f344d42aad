// Replay's errors (bad ranges and flags are UsageError, on the base).
import { TributaryError, type TributaryErrorOptions } from '../../broker/errors.js';

export const REPLAY_ERROR_CODES = [
  'TRIB_REPLAY_TARGET',
] as const;
export type ReplayErrorCode = (typeof REPLAY_ERROR_CODES)[number];

/** The MQTT broker a replay publishes into (--to-mqtt) refused the connection or a publish. */
export class ReplayTargetError extends TributaryError<ReplayErrorCode> {
  readonly code = 'TRIB_REPLAY_TARGET';
  // Retriable: with --reader the next run resumes after the last acknowledged record.
  readonly retriable = true;
  constructor(
    /** The message without the flag in front, to be told inside another one. */
    readonly detail: string,
    options?: TributaryErrorOptions,
  ) {
    super(`--to-mqtt: ${detail}`, options);
  }
}
