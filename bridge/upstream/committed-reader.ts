// Reads what is committed in a Kafka topic partition, as a read_committed consumer sees it. Used
// to read the exactly-once cursors back.
//
// Where the read stops: the high-water mark H taken when the read starts (after the caller's
// InitProducerId fenced its older incarnation), and only once the last stable offset (LSO) has
// reached H. The LSO is held back by ANY producer's open transaction: when gateways share the
// cursor topic and another gateway's transaction stays open below our latest cursor, reading up to
// the LSO alone would return our older cursor and re-send a committed batch. Every transaction
// below H is one that began before the read; once the LSO is at H they have all ended (Kafka aborts
// one after its transaction timeout), so the records below H are exactly the committed ones.
// Transactions that begin later sit at or above H and are not ours.
//
// Filtering aborted transactions is done here, not by the client: the fetch is read_uncommitted and
// a transaction's records are held until its producer's control marker says commit or abort.
// @platformatic/kafka 1.x's own read_committed filter is unsafe for this topic: it keeps one
// aborted range per producer id per fetch (records of a second aborted transaction of the same
// producer get through; after several restarts this forwarder's producer has exactly that history),
// and since each abort marker stretches that one range, committed transactions lying between two
// aborts are dropped (a stale cursor, hence records sent twice after a crash: seen in the SIGKILL test),
// and it throws an uncaught TypeError (the process dies) on an abort marker whose transaction
// wrote no record to the partition (a partition added to a transaction whose produce failed).
// Records of one transaction are visited in order, at its commit marker; records of different
// producers may be visited out of offset order (the cursor keys of a node have one producer).
import type { Consumer, RecordsBatch } from '@platformatic/kafka';
import { UpstreamUnavailableError } from './errors.js';

const READ_UNCOMMITTED = 0;
const READ_COMMITTED = 1;
const EARLIEST = -2n;
const LATEST = -1n;
const IS_TRANSACTIONAL = 1 << 4;
const IS_CONTROL = 1 << 5;
const COMMIT_MARKER = 1;
const FETCH_BYTES = 4 * 1024 * 1024;

export interface CommittedRecord {
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
}

export interface ReadCommittedOptions {
  /** The longest wait for transactions open below the high-water mark to end, in ms. */
  maxWaitMs: number;
  /** Told whenever the read moves on or keeps waiting within maxWaitMs (for a watchdog and the status). */
  progress?: (note: string | null) => void;
}

type Client = Consumer<Buffer, Buffer, Buffer, Buffer>;

/**
 * Hands every committed record of `topic`/`partition` below the high-water mark to `visit`, in
 * offset order, without holding them: the caller folds what it needs.
 */
export async function readCommitted(consumer: Client, topic: string, partition: number, visit: (record: CommittedRecord) => void, options: ReadCommittedOptions): Promise<void> {
  const metadata = await consumer.metadata({ topics: [topic] });
  const topicMeta = metadata.topics.get(topic);
  const leader = topicMeta?.partitions[partition]?.leader;
  if (topicMeta === undefined || leader === undefined) throw new Error(`topic ${topic} has no partition ${partition} upstream`);
  const offsetOf = async (timestamp: bigint, isolationLevel: number): Promise<bigint> => {
    const offset = (await consumer.listOffsets({ topics: [topic], partitions: { [topic]: [partition] }, timestamp, isolationLevel })).get(topic)?.[partition];
    if (offset === undefined) throw new Error(`no offsets for ${topic}-${partition} upstream`);
    return offset;
  };
  const end = await offsetOf(LATEST, READ_UNCOMMITTED);
  await waitForStableOffset(() => offsetOf(LATEST, READ_COMMITTED), end, `${topic}-${partition}`, options);
  let offset = await offsetOf(EARLIEST, READ_UNCOMMITTED);
  const transactions = new TransactionFilter();
  // Past the end only while a transaction begun below it waits for its marker (which exists: LSO >= end).
  while (offset < end || transactions.pending) {
    const response = await consumer.fetch({
      node: leader,
      isolationLevel: READ_UNCOMMITTED,
      maxWaitTime: 200,
      minBytes: 1,
      maxBytes: FETCH_BYTES,
      topics: [{ topicId: topicMeta.id, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: offset, lastFetchedEpoch: -1, partitionMaxBytes: FETCH_BYTES }] }],
    });
    const part = response.responses.flatMap((r) => r.partitions).find((p) => p.partitionIndex === partition);
    if (part === undefined) throw new Error(`fetch of ${topic}-${partition} returned no partition`);
    if (part.errorCode !== 0) throw new Error(`fetch of ${topic}-${partition} failed with Kafka error code ${part.errorCode}`);
    const next = transactions.collect(part.records ?? [], offset, end, visit);
    if (next <= offset) throw new Error(`fetch of ${topic}-${partition} at ${offset} made no progress (end ${end})`);
    offset = next;
    options.progress?.(`reading ${topic}-${partition}: ${offset} of ${end}`);
  }
  options.progress?.(null);
}

/** Waits until the LSO reaches `end`: every transaction open below it has committed or aborted. */
async function waitForStableOffset(lso: () => Promise<bigint>, end: bigint, where: string, options: ReadCommittedOptions): Promise<void> {
  const started = Date.now();
  for (let poll = 0; ; poll++) {
    const stable = await lso();
    if (stable >= end) return;
    const waited = Date.now() - started;
    if (waited >= options.maxWaitMs) {
      throw new UpstreamUnavailableError(
        `the last stable offset of ${where} stayed at ${stable}, below its end ${end}, for ${waited} ms: a transaction of another producer ` +
          `(another gateway sharing this cursor topic?) is still open there; the cursors are read again after a pause, not before it ends`,
      );
    }
    options.progress?.(`waiting for transactions open on ${where} to end (last stable offset ${stable} < ${end}, ${Math.round(waited / 1000)} s)`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** poll)));
  }
}

/** Holds each producer's transactional records until its control marker: visited on commit, dropped on abort. */
class TransactionFilter {
  private readonly open = new Map<bigint, CommittedRecord[]>();

  get pending(): boolean {
    return this.open.size > 0;
  }

  /** Takes the batches of one fetch response from offset `from`; returns the next offset to fetch. */
  collect(batches: readonly RecordsBatch[], from: bigint, end: bigint, visit: (record: CommittedRecord) => void): bigint {
    let next = from;
    for (const batch of batches) {
      const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
      if (last < from) continue;
      next = last + 1n;
      if (batch.attributes & IS_CONTROL) {
        const held = this.open.get(batch.producerId);
        this.open.delete(batch.producerId);
        if (held !== undefined && controlType(batch) === COMMIT_MARKER) held.forEach(visit);
        continue;
      }
      // Transactions begun at or past the end began after the read started: not ours to read.
      if (batch.firstOffset >= end) continue;
      const transactional = (batch.attributes & IS_TRANSACTIONAL) !== 0;
      let held = transactional ? this.open.get(batch.producerId) : undefined;
      if (transactional && held === undefined) this.open.set(batch.producerId, (held = []));
      for (const record of batch.records) {
        const offset = batch.firstOffset + BigInt(record.offsetDelta);
        if (offset < from || offset >= end) continue;
        const committed = { offset, key: record.key, value: record.value };
        if (held !== undefined) held.push(committed);
        else visit(committed);
      }
    }
    return next;
  }
}

/** A control record's key: version (int16), type (int16): 0 = abort, 1 = commit. */
function controlType(batch: RecordsBatch): number {
  const key = batch.records[0]?.key;
  return key !== null && key !== undefined && key.length >= 4 ? key.readInt16BE(2) : -1;
}
