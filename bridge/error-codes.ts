// The one list of every stable error code (docs/errors.md documents each; test/errors.test.ts
// keeps the two in step, and checks no code is defined twice). Each part owns its table beside
// its code; this module only gathers them, so it may import every part's errors module and no
// part imports it.
import { LOG_ERROR_CODES } from '../broker/errors.js';
import { CLUSTER_ERROR_CODES } from './cluster/errors.js';
import { CONFIG_ERROR_CODES } from './config/errors.js';
import { HTTP_ERROR_CODES } from './http/errors.js';
import { KAFKA_ERROR_CODES } from './kafka/errors.js';
import { MQTT_ERROR_CODES } from './mqtt/errors.js';
import { NET_ERROR_CODES } from './net/errors.js';
import { REPLAY_ERROR_CODES } from './replay/errors.js';
import { UPSTREAM_ERROR_CODES } from './upstream/errors.js';

/** Each part's codes, by the module that defines them. */
export const ERROR_TABLES = {
  'broker/errors.ts': LOG_ERROR_CODES,
  'bridge/config/errors.ts': CONFIG_ERROR_CODES,
  'bridge/http/errors.ts': HTTP_ERROR_CODES,
  'bridge/mqtt/errors.ts': MQTT_ERROR_CODES,
  'bridge/net/errors.ts': NET_ERROR_CODES,
  'bridge/replay/errors.ts': REPLAY_ERROR_CODES,
  'bridge/upstream/errors.ts': UPSTREAM_ERROR_CODES,
  'bridge/kafka/errors.ts': KAFKA_ERROR_CODES,
  'bridge/cluster/errors.ts': CLUSTER_ERROR_CODES,
} as const;

export const ERROR_CODES = Object.values(ERROR_TABLES).flat();
export type ErrorCode = (typeof ERROR_TABLES)[keyof typeof ERROR_TABLES][number];
