// Reads what is committed in a Kafka topic partition, from its start up to the last stable
// offset (LSO), as a read_committed consumer sees it. Used to read the exactly-once cursors back.
//
// Filtering aborted transactions is done here, by the algorithm of Kafka's own consumer, rather
// than trusted to the client: @platformatic/kafka 1.x keeps one aborted range per producer id per
// fetch, so when one producer (same id, bumped epoch, as after every restart of the forwarder) has
// two aborted transactions in one fetch, the first one's records get through. A cursor record from
// an aborted transaction would make the forwarder skip records.
import type { Consumer, RecordsBatch } from '@platformatic/kafka';

type FetchResponse = Awaited<ReturnType<Consumer<Buffer, Buffer, Buffer, Buffer>['fetch']>>;
type FetchResponsePartition = FetchResponse['responses'][number]['partitions'][number];

const READ_COMMITTED = 1;
const EARLIEST = -2n;
const IS_TRANSACTIONAL = 1 << 4;
const IS_CONTROL = 1 << 5;
const ABORT_MARKER = 0;
const FETCH_BYTES = 4 * 1024 * 1024;

export interface CommittedRecord {
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
}

/** Every committed record of `topic`/`partition` below its LSO, in offset order. */
export async function readCommitted(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>, topic: string, partition: number): Promise<CommittedRecord[]> {
  const metadata = await consumer.metadata({ topics: [topic] });
  const topicMeta = metadata.topics.get(topic);
  const leader = topicMeta?.partitions[partition]?.leader;
  if (topicMeta === undefined || leader === undefined) throw new Error(`topic ${topic} has no partition ${partition} upstream`);
  const lso = (await consumer.listOffsets({ topics: [topic], partitions: { [topic]: [partition] }, isolationLevel: READ_COMMITTED })).get(topic)?.[partition];
  let offset = (await consumer.listOffsets({ topics: [topic], partitions: { [topic]: [partition] }, timestamp: EARLIEST })).get(topic)?.[partition];
  if (lso === undefined || offset === undefined) throw new Error(`no offsets for ${topic}-${partition} upstream`);
  const out: CommittedRecord[] = [];
  const aborted = new AbortedFilter();
  while (offset < lso) {
    const response = await consumer.fetch({
      node: leader,
      isolationLevel: READ_COMMITTED,
      maxWaitTime: 200,
      minBytes: 1,
      maxBytes: FETCH_BYTES,
      topics: [{ topicId: topicMeta.id, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: offset, lastFetchedEpoch: -1, partitionMaxBytes: FETCH_BYTES }] }],
    });
    const part = response.responses.flatMap((r) => r.partitions).find((p) => p.partitionIndex === partition);
    if (part === undefined) throw new Error(`fetch of ${topic}-${partition} returned no partition`);
    if (part.errorCode !== 0) throw new Error(`fetch of ${topic}-${partition} failed with Kafka error code ${part.errorCode}`);
    const next = aborted.collect(part, offset, lso, out);
    if (next <= offset) throw new Error(`fetch of ${topic}-${partition} at ${offset} made no progress (LSO ${lso})`);
    offset = next;
  }
  return out;
}

/** Kafka's consumer-side abort filter: a transactional batch is dropped while its producer has an aborted transaction open. */
class AbortedFilter {
  private readonly abortedProducers = new Set<bigint>();

  /** Appends the committed records of one fetch response to `out`; returns the next offset to fetch. */
  collect(part: FetchResponsePartition, from: bigint, lso: bigint, out: CommittedRecord[]): bigint {
    const pending = [...part.abortedTransactions].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
    let next = from;
    for (const batch of part.records ?? []) {
      const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
      if (batch.firstOffset >= lso) break;
      while (pending.length > 0 && pending[0]!.firstOffset <= last) this.abortedProducers.add(pending.shift()!.producerId);
      next = last + 1n;
      if (batch.attributes & IS_CONTROL) {
        if (controlType(batch) === ABORT_MARKER) this.abortedProducers.delete(batch.producerId);
        continue;
      }
      if (batch.attributes & IS_TRANSACTIONAL && this.abortedProducers.has(batch.producerId)) continue;
      for (const record of batch.records) {
        const offset = batch.firstOffset + BigInt(record.offsetDelta);
        if (offset >= from && offset < lso) out.push({ offset, key: record.key, value: record.value });
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
