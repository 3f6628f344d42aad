// What a log record becomes upstream: the same key, value, timestamp and headers, plus where it
// came from (tributary.node, tributary.partition, tributary.offset, as decimal strings), in the
// upstream partition that keeps per-key order.
import type { MessageToProduce } from '@platformatic/kafka';
import type { LogRecord } from '../../broker/log/record-batch.js';
import { partitionForKey } from '../../broker/murmur2.js';

export type UpstreamMessage = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;

export const HEADER_NODE = 'tributary.node';
export const HEADER_PARTITION = 'tributary.partition';
export const HEADER_OFFSET = 'tributary.offset';

export function upstreamTopicName(template: string, node: string, topic: string): string {
  return template.replaceAll('{node}', node).replaceAll('{topic}', topic);
}

/**
 * The upstream partition of a record from local partition `localPartition`: the same number when
 * the counts match (the local partition was itself chosen by murmur2 of the key, so per-key and
 * per-partition order are both kept); otherwise Kafka's murmur2 of the key, so a key always lands
 * in one upstream partition; keyless records keep their partition's order by a fixed mapping.
 */
export function upstreamPartition(key: Buffer | null, localPartition: number, localCount: number, upstreamCount: number): number {
  if (upstreamCount === localCount) return localPartition;
  if (key !== null && key.length > 0) return partitionForKey(key, upstreamCount);
  return localPartition % upstreamCount;
}

/**
 * About how many bytes a record takes in an upstream record batch (key, value, headers including
 * the three tributary.* ones, and per-record framing). Batches are cut by this so that one
 * partition's batch stays under Kafka's max.message.bytes (1 MiB by default) with upstream.batchBytes.
 */
export function upstreamSize(record: LogRecord, node: string): number {
  let size = (record.key?.length ?? 0) + (record.value?.length ?? 0) + 21; // varint lengths, deltas, attributes
  for (const [name, value] of record.headers) size += name.length + (value?.length ?? 0) + 2;
  return size + HEADER_NODE.length + HEADER_PARTITION.length + HEADER_OFFSET.length + node.length + 5 + 10 + 6;
}

/** Header names kept per partition (MQTT v5 user properties could bring any number). */
const MAX_CACHED_NAMES = 64;

/**
 * Builds upstream messages for one local partition. What is the same for every record (the
 * tributary.* names, node and partition values, the names of the record's own headers) is made
 * once: this runs for every record forwarded, and its allocations are most of the forwarder's own
 * share of the work beside the Kafka client's.
 */
export class MessageBuilder {
  private readonly nodeName = Buffer.from(HEADER_NODE);
  private readonly partitionName = Buffer.from(HEADER_PARTITION);
  private readonly offsetName = Buffer.from(HEADER_OFFSET);
  private readonly nodeValue: Buffer;
  private readonly partitionValue: Buffer;
  private readonly names = new Map<string, Buffer>();

  constructor(
    node: string,
    private readonly localPartition: number,
    private readonly localCount: number,
    private readonly upstreamTopic: string,
    private readonly upstreamCount: number,
  ) {
    this.nodeValue = Buffer.from(node);
    this.partitionValue = Buffer.from(String(localPartition));
  }

  build(record: LogRecord): UpstreamMessage {
    // Buffer keys: a Map keyed by distinct Buffer objects keeps repeated header names, as Kafka
    // does (a name repeated within the record gets a Buffer of its own).
    const headers = new Map<Buffer, Buffer>();
    for (const [name, value] of record.headers) {
      let key = this.names.get(name);
      if (key === undefined) {
        key = Buffer.from(name);
        if (this.names.size < MAX_CACHED_NAMES) this.names.set(name, key);
      } else if (headers.has(key)) key = Buffer.from(name);
      headers.set(key, value as Buffer);
    }
    headers.set(this.nodeName, this.nodeValue);
    headers.set(this.partitionName, this.partitionValue);
    headers.set(this.offsetName, Buffer.from(String(record.offset)));
    const message: UpstreamMessage = {
      topic: this.upstreamTopic,
      partition: upstreamPartition(record.key, this.localPartition, this.localCount, this.upstreamCount),
      value: record.value as Buffer,
      timestamp: BigInt(record.timestamp),
      headers,
    };
    if (record.key !== null) message.key = record.key;
    return message;
  }
}
