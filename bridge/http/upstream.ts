// GET /api/upstream: the forwarder's state and, per partition, the forwarded offset, the log
// end offset and high watermark (and `highWaterMark`, the log end's old name), the lag and the last error.
import type { UpstreamStatus } from '../upstream/forwarder.js';

export function upstreamResponse(status: UpstreamStatus | null): UpstreamStatus | { enabled: false } {
  return status ?? { enabled: false };
}
