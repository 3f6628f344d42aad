// The APIs this endpoint serves. Adding one: a file beside this one exporting an ApiHandler, and
// a line here; ApiVersions lists it from then on.
import type { ApiHandler } from './api.js';
import { apiVersions } from './api-versions.js';
import { describeConfigs } from './describe-configs.js';
import { fetch } from './fetch.js';
import { initProducerId } from './init-producer-id.js';
import { listOffsets } from './list-offsets.js';
import { metadata } from './metadata.js';
import { produce } from './produce.js';
import { saslAuthenticate } from './sasl-authenticate.js';
import { saslHandshake } from './sasl-handshake.js';

export const APIS: readonly ApiHandler[] = [produce, fetch, listOffsets, metadata, apiVersions, describeConfigs, initProducerId];

/** SASL (sasl/session.ts): served on every listener, needed only where kafka.sasl.required. */
export const SASL_APIS: readonly ApiHandler[] = [saslHandshake, saslAuthenticate];
