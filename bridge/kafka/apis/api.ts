// What one Kafka API is to the server: its key, the versions it serves, where its flexible
// versions start, and a handler that reads a request body and writes the response body. Adding an
// API is one file exporting an ApiHandler, listed in ./index.ts.
import type { Log } from '../../../broker/log/log.js';
import type { Logger } from '../../logger.js';
import type { Operation } from '../authorization.js';
import type { GroupCoordinator } from '../groups/coordinator.js';
import type { Reader } from '../protocol/reader.js';
import type { Writer } from '../protocol/writer.js';
import type { KafkaClusterView } from '../cluster-view.js';
import type { KafkaSession } from '../sasl/session.js';

export interface ApiHandler {
  readonly key: number;
  readonly name: string;
  readonly minVersion: number;
  readonly maxVersion: number;
  /** The first flexible version: compact encodings, tagged fields, request header v2, response header v1. */
  readonly flexibleFrom: number;
  /** ApiVersions only: its response header is v0 in every version (KIP-511). */
  readonly plainResponseHeader?: boolean;
  /**
   * Reads the request body (after the header) and answers it. A body that does not parse throws
   * MalformedRequestError (the connection is closed); anything the client asked that cannot be
   * served is an error code in the response. null: no response at all (Produce with acks 0).
   */
  handle(request: Reader, version: number, context: RequestContext): Writer | null | Promise<Writer | null>;
}

/**
 * The node as Kafka clients see it: one broker, id 0, leader of every partition; or, with
 * replication, one broker of the cluster (`cluster`), whose leader leads every partition.
 */
export interface BrokerIdentity {
  /** With replication (../cluster-view.ts): the other nodes and who leads. */
  readonly cluster?: KafkaClusterView;
  readonly nodeId: number;
  readonly clusterId: string;
  /** host and port the client should connect to (Metadata); the host may depend on the connection. */
  readonly host: string;
  readonly port: number;
}

export interface RequestContext {
  readonly log: Log;
  readonly broker: BrokerIdentity;
  /** Every API the server serves (ApiVersions lists them). */
  readonly apis: readonly ApiHandler[];
  readonly clientId: string | null;
  /** Aborts when the connection closes or the server stops (a long-poll Fetch stops waiting). */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** The connection's SASL state and principal (the user it authenticated as, or null). */
  readonly session: KafkaSession;
  /**
   * Whether kafka.acl lets this connection's principal read or write `topic`
   * (../authorization.ts): call it per topic before serving or storing anything, and answer a
   * refused partition TOPIC_AUTHORIZATION_FAILED.
   */
  authorize(operation: Operation, topic: string): boolean;
  /** The largest record batch a Produce partition takes (kafka.maxMessageBytes); default Kafka's 1048588. */
  readonly maxMessageBytes?: number;
  /** What one Produce request's compressed batches may expand to together (kafka.maxUncompressedBytes); default 32 MiB. */
  readonly maxUncompressedBytes?: number;
  /** The node's consumer-group coordinator (the group APIs). */
  readonly groups: GroupCoordinator;
  /** The client's address (DescribeGroups shows it). */
  readonly clientHost: string;
  /**
   * Runs `task` once this request's answer has been handed to the socket in full (at once when
   * there is none): work for the client's next request (Fetch's read-ahead) that must not hold up
   * the transfer of this answer, which the event loop feeds to the socket as the client reads it.
   * Absent outside a connection; then such work runs on the next turn of the event loop.
   */
  readonly afterAnswer?: (task: () => void) => void;
  /**
   * Runs `step` after the steps this connection asked for before it have settled: how Produce
   * keeps its appends in request order when a step awaits before it appends (decompressing a
   * batch) while later requests of the pipeline start. Absent outside a connection: run at once.
   */
  readonly inOrder?: <T>(step: () => Promise<T>) => Promise<T>;
}

/** Whether `version` of `api` is flexible. */
export function isFlexible(api: ApiHandler, version: number): boolean {
  return version >= api.flexibleFrom;
}
