// The Kafka protocol's error codes of the consumer-group APIs (the protocol guide, "Error Codes";
// org.apache.kafka.common.protocol.Errors). Kept beside the coordinator, apart from
// ../protocol/error-codes.ts, so that the APIs of other slices add theirs without touching these.
export const GroupErrorCode = {
  OFFSET_METADATA_TOO_LARGE: 12,
  COORDINATOR_NOT_AVAILABLE: 15,
  /** Replication: this node is a follower; the group's coordinator is the cluster leader (FindCoordinator names it). */
  NOT_COORDINATOR: 16,
  ILLEGAL_GENERATION: 22,
  INCONSISTENT_GROUP_PROTOCOL: 23,
  INVALID_GROUP_ID: 24,
  UNKNOWN_MEMBER_ID: 25,
  INVALID_SESSION_TIMEOUT: 26,
  REBALANCE_IN_PROGRESS: 27,
  INVALID_COMMIT_OFFSET_SIZE: 28,
  MEMBER_ID_REQUIRED: 79,
  GROUP_AUTHORIZATION_FAILED: 30,
  NON_EMPTY_GROUP: 68,
  GROUP_ID_NOT_FOUND: 69,
  GROUP_SUBSCRIBED_TO_TOPIC: 86,
} as const;
