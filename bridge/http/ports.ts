// What the HTTP server needs from the rest of the node, as small interfaces. The parts satisfy
// them without importing this file (structural types: a part never imports bridge/http/), and
// bridge/main.ts wires them. HTTP serialises what they return; the shapes of those snapshots
// belong to the parts that build them (docs/observability.md, docs/replay.md).
import type { CorruptBatchError } from '../../broker/errors.js';

/** A JSON snapshot a part builds; HTTP sends it as it is. */
export type Snapshot = object;

/** The node's state for the health, readiness and status routes. */
export interface NodeStatus {
  /** GET /readyz: every part of the node is up. */
  isReady(): boolean;
  /** GET /api/topics: the log's topics with both ends of each partition. */
  topics(): Snapshot[];
  /** GET /api/overview: the dashboard's snapshot (bridge/observability/overview.ts). */
  overview(): Snapshot;
  /** GET /api/upstream: the forwarder's status; null while upstream is off. */
  upstream(): Snapshot | null;
  /**
   * GET /api/cluster: replication's status (bridge/cluster/cluster-node.ts); null or absent: one
   * node. GET /api/cluster/role answers 200 when its `role` is 'leader', 503 otherwise.
   */
  cluster?(): (Snapshot & { role: string }) | null;
}

/** GET /metrics: the exposition text and its content type (bridge/observability/metrics.ts). */
export interface MetricsExposition {
  render(): Promise<{ contentType: string; body: string }>;
}

/** One piece of a records stream's body and how many records it covers. */
export interface RecordChunk {
  bytes: Buffer;
  records: number;
}

/** An opened read of GET /api/topics/{topic}/records, before anything is sent. */
export interface RecordRead {
  contentType: string;
  /** The resolved offset ranges (the x-tributary-ranges header) and the records they hold. */
  ranges: readonly Snapshot[];
  total: number;
  /** Bytes before the first chunk (CSV's header line); may be empty. */
  head: Buffer;
  /** What the read does at a corrupt stored batch: stop with its error, or skip and report it. */
  onCorrupt: 'fail' | 'skip';
  /** The next chunk; null at the end. Throws CorruptBatchError at a batch that fails its checks. */
  next(): RecordChunk | null;
  /** Passes over the corrupt batch; its report (for the trailer) and the body's line about it (NDJSON only, else empty). */
  skip(err: CorruptBatchError): { report: Snapshot; bytes: Buffer };
  /** What the body says when the stream ends at `err` (NDJSON: a last {"error":…} line; else empty). */
  endedBy(err: CorruptBatchError): Buffer;
}

/** The replay side of the API (bridge/replay/records-reader.ts): topics, records and named readers. */
export interface RecordsReader {
  /** GET /api/topics/{topic}: one topic's partitions; UnknownTopicError if there is none. */
  topic(name: string): Snapshot;
  /** Checks the query and resolves the ranges; a bad request throws here, before the status line. */
  open(topic: string, query: URLSearchParams): RecordRead;
  /** GET /api/readers: named readers' positions and lag. */
  readers(): Snapshot[];
  /** POST /api/readers/{name}/positions: checks the name, then reads the body (JSON) and commits it; the answer. */
  commit(reader: string, body: () => Promise<unknown>): Promise<Snapshot>;
  /** DELETE /api/readers/{name}: how many stored positions were deleted. */
  forget(reader: string): number;
}
