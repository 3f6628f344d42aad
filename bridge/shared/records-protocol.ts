// The names the records stream (GET /api/topics/{topic}/records) puts on the wire besides its
// body, shared by the server (bridge/http/records.ts) and its client (bridge/cli/node-client.ts).

/** Response header carrying the resolved ranges as JSON: [{"partition":0,"from":0,"to":100}]. */
export const RANGES_HEADER = 'x-tributary-ranges';
/** HTTP trailer of a records stream that ended early: the error as JSON (every format). */
export const ERROR_TRAILER = 'x-tributary-error';
/** HTTP trailer listing the corrupt batches an onCorrupt=skip stream passed over, as JSON. */
export const SKIPPED_TRAILER = 'x-tributary-skipped';
