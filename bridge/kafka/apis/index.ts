// The APIs this endpoint serves. Adding one: a file beside this one exporting an ApiHandler, and
// a line here; ApiVersions lists it from then on.
import type { ApiHandler } from './api.js';
import { apiVersions } from './api-versions.js';
import { fetch } from './fetch.js';
import { initProducerId } from './init-producer-id.js';
import { listOffsets } from './list-offsets.js';
import { metadata } from './metadata.js';
import { produce } from './produce.js';

export const APIS: readonly ApiHandler[] = [produce, fetch, listOffsets, metadata, apiVersions, initProducerId];
