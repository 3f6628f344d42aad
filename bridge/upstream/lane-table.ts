// The forwarded partitions and where each stands: one Lane per log partition that upstream.topics
// selects. Lanes are made when the forwarder starts and whenever the log adds topics or partitions
// (Log.onPartitionsAdded), so the status, which only reads them, shows every partition also while
// Kafka is unreachable. On each connect every lane goes back to its durable cursor; delivered
// batches move the cursors on; the order of the lanes is the round robin of the batch builder.
import { partitionKey } from '../shared/partition-key.js';
import type { Log } from '../../broker/log/log.js';
import { Lane } from './lane.js';
import type { CursorAdvance } from './sink.js';
import { MessageBuilder, upstreamTopicName } from './upstream-record.js';
import type { TopicWish } from './upstream-topics.js';

export interface LaneTableOptions {
  log: Log;
  node: string;
  /** The log topics forwarded (null: all). */
  topics: readonly string[] | null;
  topicTemplate: string;
}

export class LaneTable {
  /** `topic/partition` -> lane, in round-robin order: the partitions of the last batch come last. */
  private readonly lanes = new Map<string, Lane>();
  /** The durable cursors of the open connection, as read back or committed since; null while not connected. */
  private durable: Map<string, number> | null = null;
  /** The furthest each lane is known to be durable upstream, kept across reconnects (the disk budget's floor). */
  private readonly forwarded = new Map<string, number>();
  private readonly unsubscribe: () => void;

  constructor(private readonly options: LaneTableOptions) {
    this.unsubscribe = options.log.onPartitionsAdded(() => this.discover());
    this.discover();
  }

  /** Every lane, in round-robin order. */
  values(): IterableIterator<Lane> {
    return this.lanes.values();
  }

  /** A connection read the durable cursors: every lane goes back to its cursor (or the log start), and its upstream topic is looked up again. */
  connected(durable: Map<string, number>): void {
    const { log } = this.options;
    this.durable = durable;
    for (const [key, offset] of durable) this.forwarded.set(key, Math.max(offset, this.forwarded.get(key) ?? 0));
    for (const lane of this.lanes.values()) {
      lane.builder = null; // partition counts upstream are looked up again
      lane.rewind(durable.get(lane.key), log.partition(lane.topic, lane.partition).logStartOffset);
    }
  }

  /** The connection was dropped: lanes added from now on wait for the next connect's cursors. */
  disconnected(): void {
    this.durable = null;
  }

  /**
   * Makes sure the upstream topics of lanes not prepared yet exist (`ensure` returns their
   * partition counts upstream) and gives each such lane its MessageBuilder.
   */
  async prepare(ensure: (wishes: TopicWish[]) => Promise<Map<string, number>>): Promise<void> {
    const waiting = this.unprepared();
    if (waiting.length === 0) return;
    const { log, node } = this.options;
    const wishes = [...new Map(waiting.map((l) => [l.upstreamTopic, { name: l.upstreamTopic, partitions: log.partitionCount(l.topic) }])).values()];
    const counts = await ensure(wishes);
    for (const lane of waiting) {
      lane.builder = new MessageBuilder(node, lane.partition, log.partitionCount(lane.topic), lane.upstreamTopic, counts.get(lane.upstreamTopic)!);
    }
  }

  /** Lanes whose upstream topic is not known yet (new, or since a reconnect). */
  unprepared(): Lane[] {
    return [...this.lanes.values()].filter((l) => l.builder === null);
  }

  /** Round robin: the partitions of this batch go last for the next one. */
  rotate(cursors: readonly CursorAdvance[]): void {
    for (const c of cursors) {
      const key = partitionKey(c.topic, c.partition);
      const lane = this.lanes.get(key)!;
      this.lanes.delete(key);
      this.lanes.set(key, lane);
    }
  }

  /** A delivery is durable upstream: its cursors are the lanes' committed positions now. */
  applied(cursors: readonly CursorAdvance[]): void {
    for (const c of cursors) {
      const lane = this.lanes.get(partitionKey(c.topic, c.partition));
      if (lane === undefined) continue;
      lane.recordsForwarded += c.nextOffset - (lane.committed ?? c.nextOffset);
      lane.committed = c.nextOffset;
      this.durable?.set(lane.key, c.nextOffset);
      this.forwarded.set(lane.key, Math.max(c.nextOffset, this.forwarded.get(lane.key) ?? 0));
    }
  }

  /**
   * The offset below which the partition is known to be durable upstream: 0 until a connection has
   * read its cursor or delivered to it; null for a partition upstream.topics does not forward.
   */
  forwardedBelow(topic: string, partition: number): number | null {
    const key = partitionKey(topic, partition);
    if (!this.lanes.has(key)) return null;
    return this.forwarded.get(key) ?? 0;
  }

  /** Stops adding lanes for new partitions. */
  close(): void {
    this.unsubscribe();
  }

  /** Adds a lane for every forwarded partition the log has that has none yet. */
  private discover(): void {
    const { topics, topicTemplate, node, log } = this.options;
    for (const topic of log.topics()) {
      if (topics !== null && !topics.includes(topic.name)) continue;
      // Tributary's own internal topics (replication's epoch-start entries: docs/replication.md) stay at the edge unless named.
      if (topics === null && topic.name.startsWith('__tributary_')) continue;
      for (const p of topic.partitions) {
        const key = partitionKey(topic.name, p.partition);
        if (this.lanes.has(key)) continue;
        const lane = new Lane(topic.name, p.partition, upstreamTopicName(topicTemplate, node, topic.name));
        if (this.durable !== null) lane.rewind(this.durable.get(key), p.logStartOffset);
        this.lanes.set(key, lane);
      }
    }
  }
}
