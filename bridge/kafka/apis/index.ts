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
import { deleteGroups } from './delete-groups.js';
import { describeGroups } from './describe-groups.js';
import { findCoordinator } from './find-coordinator.js';
import { heartbeat } from './heartbeat.js';
import { joinGroup } from './join-group.js';
import { leaveGroup } from './leave-group.js';
import { listGroups } from './list-groups.js';
import { offsetCommit } from './offset-commit.js';
import { offsetDelete } from './offset-delete.js';
import { offsetFetch } from './offset-fetch.js';
import { syncGroup } from './sync-group.js';

/** The consumer-group APIs (classic rebalance protocol): ../groups/. */
const GROUP_APIS: readonly ApiHandler[] = [offsetCommit, offsetFetch, findCoordinator, joinGroup, heartbeat, leaveGroup, syncGroup, describeGroups, listGroups, deleteGroups, offsetDelete];

export const APIS: readonly ApiHandler[] = [produce, fetch, listOffsets, metadata, apiVersions, describeConfigs, initProducerId, ...GROUP_APIS];

/** SASL (sasl/session.ts): served on every listener, needed only where kafka.sasl.required. */
export const SASL_APIS: readonly ApiHandler[] = [saslHandshake, saslAuthenticate];
