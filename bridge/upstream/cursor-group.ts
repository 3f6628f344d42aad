// The at-least-once forwarder's group in the cursor store (broker/cursors.ts). Its own module, with
// no imports, so replay can reserve the name without loading the forwarder. Replay readers live
// under `reader:` instead.
export const UPSTREAM_GROUP = 'upstream';
