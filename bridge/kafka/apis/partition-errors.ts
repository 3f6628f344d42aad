// What the log's errors and a request's leader epoch mean as Kafka error codes, for the APIs that
// answer per partition (ListOffsets, Fetch).
import type { Log } from '../../../broker/log/log.js';
import { ErrorCode } from '../protocol/error-codes.js';
import type { RequestContext } from './api.js';

/** The Kafka error code for an error the log threw while serving a partition; unexpected ones are logged. */
export function errorCodeOf(err: unknown, context: RequestContext, what: Record<string, unknown>): number {
  switch ((err as { code?: unknown } | null)?.code) {
    case 'TRIB_OFFSET_OUT_OF_RANGE':
      return ErrorCode.OFFSET_OUT_OF_RANGE;
    case 'TRIB_UNKNOWN_TOPIC':
    case 'TRIB_UNKNOWN_PARTITION':
      return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    case 'TRIB_LOG_CORRUPT_BATCH':
      // Never served; the log has counted and reported it (the range is in /metrics and the dashboard).
      context.logger.warn({ ...what, err }, 'corrupt batch not served to a Kafka client');
      return ErrorCode.CORRUPT_MESSAGE;
    case 'TRIB_LOG_NOT_LEADER':
      return ErrorCode.NOT_LEADER_OR_FOLLOWER;
    case 'TRIB_LOG_CLOSED':
    case 'TRIB_LOG_STORAGE':
    case 'TRIB_LOG_DAMAGED':
      return ErrorCode.KAFKA_STORAGE_ERROR;
    default:
      context.logger.error({ ...what, err }, 'Kafka request failed on a partition');
      return ErrorCode.UNKNOWN_SERVER_ERROR;
  }
}

/**
 * KIP-320: a request that names the leader epoch it believes current (not -1) is fenced when that
 * epoch is older than the partition's (FENCED_LEADER_EPOCH) and refused when it is newer than any
 * this node knows (UNKNOWN_LEADER_EPOCH); the client refreshes its metadata.
 */
export function leaderEpochError(log: Log, topic: string, partition: number, requested: number): number {
  if (requested < 0) return ErrorCode.NONE;
  const current = log.currentLeaderEpoch(topic, partition);
  if (requested < current) return ErrorCode.FENCED_LEADER_EPOCH;
  if (requested > current) return ErrorCode.UNKNOWN_LEADER_EPOCH;
  return ErrorCode.NONE;
}
