// The configuration's errors: the one door (load.ts, schema.ts) refuses a file or its contents.
// Other parts that check config-derived rules (MQTT access and mapping, the forwarder) throw these too.
import { TributaryError, type TributaryErrorOptions } from '../../broker/errors.js';

export const CONFIG_ERROR_CODES = [
  'TRIB_CONFIG_INVALID',
  'TRIB_CONFIG_FILE',
] as const;
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[number];

/** One configuration problem: the dotted key and what is wrong with it. */
export interface ConfigProblem {
  key: string;
  message: string;
}

export class ConfigInvalidError extends TributaryError<ConfigErrorCode> {
  readonly code = 'TRIB_CONFIG_INVALID';
  readonly retriable = false;
  constructor(
    readonly problems: readonly ConfigProblem[],
    readonly source: string,
  ) {
    super(
      `invalid configuration (${source}):\n` +
        problems.map((p) => `  - ${p.key}: ${p.message}`).join('\n'),
    );
  }
}

export class ConfigFileError extends TributaryError<ConfigErrorCode> {
  readonly code = 'TRIB_CONFIG_FILE';
  readonly retriable = false;
  constructor(
    readonly file: string,
    reason: string,
    options?: TributaryErrorOptions,
  ) {
    super(`cannot read config file ${file}: ${reason}`, options);
  }
}
