// The Kafka protocol's numeric error codes that this endpoint answers with (the protocol guide,
// "Error Codes"; org.apache.kafka.common.protocol.Errors). They travel inside responses, to
// clients; the TRIB_* codes of ../errors.ts are for our own logs.
export const ErrorCode = {
  UNKNOWN_SERVER_ERROR: -1,
  NONE: 0,
  OFFSET_OUT_OF_RANGE: 1,
  /** The batch failed its CRC or is otherwise corrupt: never served. */
  CORRUPT_MESSAGE: 2,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  REQUEST_TIMED_OUT: 7,
  MESSAGE_TOO_LARGE: 10,
  INVALID_REQUIRED_ACKS: 21,
  OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
  INVALID_PRODUCER_EPOCH: 47,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53,
  UNSUPPORTED_COMPRESSION_TYPE: 76,
  INVALID_RECORD: 87,
  UNSUPPORTED_VERSION: 35,
  INVALID_REQUEST: 42,
  KAFKA_STORAGE_ERROR: 56,
  FETCH_SESSION_ID_NOT_FOUND: 70,
  FENCED_LEADER_EPOCH: 74,
  UNKNOWN_LEADER_EPOCH: 75,
  UNKNOWN_TOPIC_ID: 100,
  /** kafka.acl does not grant the operation on the topic. */
  TOPIC_AUTHORIZATION_FAILED: 29,
  UNSUPPORTED_SASL_MECHANISM: 33,
  ILLEGAL_SASL_STATE: 34,
  SASL_AUTHENTICATION_FAILED: 58,
  /** Replication: this node is not the cluster leader (docs/replication.md); the client asks another. */
  NOT_LEADER_OR_FOLLOWER: 6,
  /** Replication: no cluster leader is known, or not its Kafka address (Metadata); the client asks again. */
  LEADER_NOT_AVAILABLE: 5,
  /** A produce to an internal topic (`__tributary_*`): only the node writes them (docs/replication.md). */
  INVALID_TOPIC_EXCEPTION: 17,
  /** Replication: no cluster leader is known to coordinate groups (FindCoordinator); the client asks again. */
  COORDINATOR_NOT_AVAILABLE: 15,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
