// Field helpers the group APIs share: BYTES / COMPACT_BYTES (member metadata and assignments), the
// client's address as DescribeGroups shows it, and whether this node coordinates groups now.
import { MalformedRequestError } from '../errors.js';
import { GroupErrorCode } from '../groups/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import type { Writer } from '../protocol/writer.js';
import type { RequestContext } from './api.js';

/** BYTES (int32 length) or COMPACT_BYTES (flexible), not nullable. */
export function readBytes(r: Reader, flexible: boolean): Buffer {
  const v = r.nullableBytes(flexible);
  if (v === null) throw new MalformedRequestError('null bytes where the field is not nullable');
  return Buffer.from(v); // a copy: kept beyond the request (member metadata, assignments)
}

export function writeBytes(w: Writer, v: Buffer, flexible: boolean): Writer {
  if (flexible) w.uvarint(v.length + 1);
  else w.int32(v.length);
  return w.bytes(v);
}

/** The client's address as Kafka shows it in DescribeGroups ("/127.0.0.1"). */
export function clientHostOf(context: RequestContext): string {
  return `/${context.clientHost}`;
}

/**
 * Whether this node coordinates groups now: 0 (NONE) alone or as the cluster's leader, whose
 * committed offsets replicate (docs/replication.md, "State beside the records"). On a follower
 * NOT_COORDINATOR, as Kafka answers a group request on a broker that is not the group's
 * coordinator: the client runs FindCoordinator again, which names the leader. While no leader is
 * known (an election) COORDINATOR_NOT_AVAILABLE, as FindCoordinator answers then.
 */
export function coordinatorError(context: RequestContext): number {
  const cluster = context.broker.cluster;
  if (cluster === undefined) return 0;
  const leader = cluster.leaderId();
  if (leader === null) return GroupErrorCode.COORDINATOR_NOT_AVAILABLE;
  return leader === cluster.selfId ? 0 : GroupErrorCode.NOT_COORDINATOR;
}
