// cluster.followers: forward (docs/replication.md, "Followers that take publishes"). A follower
// takes MQTT publishes and hands each partition's batch to the leader (API_FORWARD) instead of
// appending it; the leader appends it through its normal path, which answers once the commit
// covers it (acknowledge: 'committed'), and only then does the publisher get its PUBACK. On the
// leader, the same target appends locally. The MQTT sink sees one AppendTarget either way.
import type { AppendInfo, AppendOptions, Log } from '../../broker/log/log.js';
import { encodeBatch, type RecordInput } from '../../broker/log/record-batch.js';
import { UnknownTopicError } from '../../broker/errors.js';
import type { Logger } from '../logger.js';
import type { Role } from '../shared/cluster-status.js';
import { ForwardFailedError, ForwardRefusedError } from './errors.js';
import { API_FORWARD, decodeForwardResponse, encodeForward, FORWARD_STORED, type ForwardRequest } from './forward-messages.js';
import { Writer } from './messages.js';
import { parseAddress, PeerConnection, type ReplicationTls } from './transport.js';


/** What the MQTT publish sink appends through (publish-sink.ts's AppendTarget, given structurally: replication does not import MQTT). */
export type AppendTarget = Pick<Log, 'append' | 'partitionCount' | 'createTopic'>;

/** What the forwarder reads of the cluster node: who leads the epoch it is in. */
export interface ForwardView {
  readonly role: Role;
  readonly epoch: number;
  readonly leaderId: string | null;
}

export interface FollowerForwardOptions {
  nodeId: string;
  log: Log;
  node: ForwardView;
  peers: readonly { id: string; address: string }[];
  tls: ReplicationTls | null;
  /** The most bytes of records one request carries (below the leader's frame limit, cluster.fetchMaxBytes). */
  maxBytes: number;
  /** How long the leader may take to answer (its commit included) before the forward counts as failed. */
  timeoutMs: number;
  logger: Logger;
}

interface Waiting {
  records: readonly RecordInput[];
  resolve(info: AppendInfo): void;
  reject(err: unknown): void;
}

/** One partition's forwards: one request in flight at a time, so the leader stores them in the order they came. */
interface Lane {
  sending: boolean;
  queue: Waiting[];
}

export class FollowerForward implements AppendTarget {
  /** Records the leader acknowledged as committed. */
  forwarded = 0;
  /** Forward requests that ended without that answer (their publishers' connections were closed). */
  failures = 0;
  readonly #lanes = new Map<string, Lane>();
  readonly #peers = new Map<string, PeerConnection>();
  /** Topics this follower had the leader create, until its own log learns them from a fetch. */
  readonly #created = new Map<string, number>();
  #closed = false;

  constructor(private readonly options: FollowerForwardOptions) {
    // Connections of their own: a forward that times out drops its connection, never the fetch's.
    for (const peer of options.peers) {
      const { host, port } = parseAddress(peer.address);
      this.#peers.set(peer.id, new PeerConnection(peer.id, host, port, options.maxBytes, options.tls, options.logger));
    }
  }

  append(topic: string, partition: number, records: readonly RecordInput[], options: AppendOptions = {}): Promise<AppendInfo> {
    if (this.options.node.role === 'leader') return this.options.log.append(topic, partition, records, options);
    // QoS 2 would need its idempotence key held and released (PUBREL) on the leader: not in this slice.
    if (options.idempotenceKey !== undefined) return Promise.reject(new ForwardRefusedError('QoS 2 publishes go to the cluster leader (a follower forwards QoS 0 and 1)'));
    return new Promise((resolve, reject) => {
      const key = `${partition}:${topic}`;
      let lane = this.#lanes.get(key);
      if (lane === undefined) this.#lanes.set(key, (lane = { sending: false, queue: [] }));
      lane.queue.push({ records, resolve, reject });
      this.pump(topic, partition, lane);
    });
  }

  partitionCount(topic: string): number {
    try {
      return this.options.log.partitionCount(topic);
    } catch (err) {
      const created = this.#created.get(topic);
      if (err instanceof UnknownTopicError && created !== undefined) return created;
      throw err;
    }
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    if (this.options.node.role === 'leader') return this.options.log.createTopic(topic, partitions);
    await this.send({ replicaId: this.options.nodeId, epoch: this.options.node.epoch, topic, partition: 0, createPartitions: partitions, batch: Buffer.alloc(0) });
    this.#created.set(topic, partitions);
  }

  close(): void {
    this.#closed = true;
    for (const peer of this.#peers.values()) peer.close();
  }

  /** Sends what waits in `lane` as one request, when none is in flight; a failure fails everything queued behind it too (order). */
  private pump(topic: string, partition: number, lane: Lane): void {
    if (lane.sending || lane.queue.length === 0) return;
    const taken = takeUpTo(lane.queue, this.options.maxBytes);
    lane.sending = true;
    const records = taken.length === 1 ? taken[0]!.records : taken.flatMap((w) => w.records);
    // Encoded here, as the leader's own append would encode it in its writer: the leader stores the
    // bytes as sent. In the promise: a record that cannot be encoded fails its forward, not the lane.
    const epoch = this.options.node.epoch;
    const sent = Promise.resolve().then(() => this.send({ replicaId: this.options.nodeId, epoch, topic, partition, createPartitions: 0, batch: encodeBatch(records) }));
    sent.then(
      (baseOffset) => {
        this.forwarded += records.length;
        let offset = baseOffset;
        for (const w of taken) {
          w.resolve({ topic, partition, baseOffset: offset, lastOffset: offset + w.records.length - 1, duplicate: false });
          offset += w.records.length;
        }
      },
      (err: unknown) => {
        this.failures++;
        // What waited behind a failed forward fails with it: sent after, it could be stored before
        // what the devices send again. Their connections close; the devices send all of it again.
        const behind = lane.queue.splice(0);
        for (const w of [...taken, ...behind]) w.reject(err);
      },
    ).finally(() => {
      lane.sending = false;
      this.pump(topic, partition, lane);
    });
  }

  /** One request to the leader of this node's epoch; the base offset, or a ForwardFailedError. */
  private async send(request: ForwardRequest): Promise<number> {
    const { node } = this.options;
    const leader = node.leaderId === null ? undefined : this.#peers.get(node.leaderId);
    if (this.#closed) throw new ForwardFailedError('this node is stopping');
    if (node.role !== 'follower' || leader === undefined) throw new ForwardFailedError(`no cluster leader known (this node is ${node.role})`);
    let answer;
    try {
      answer = decodeForwardResponse(await leader.request(API_FORWARD, encodeForward(new Writer(), request), this.options.timeoutMs));
    } catch (err) {
      // Dropped, timed out, or closed by a leader that does not know API_FORWARD: stored or not, unknown.
      this.options.logger.warn({ err, leader: leader.peerId, topic: request.topic, partition: request.partition }, 'a forward to the cluster leader got no answer; its publishers resend');
      throw new ForwardFailedError(`no answer from the leader ${leader.peerId}: ${(err as Error).message}`, { cause: err });
    }
    if (answer.error !== FORWARD_STORED) {
      this.options.logger.warn({ leader: leader.peerId, error: answer.error, epoch: answer.epoch, leaderId: answer.leaderId, message: answer.message }, 'the cluster leader did not store a forward; its publishers resend');
      throw new ForwardFailedError(answer.message ?? `${leader.peerId} does not lead epoch ${request.epoch} (error ${answer.error})`);
    }
    return answer.baseOffset;
  }
}

/** The first waiting forwards whose records fit in `maxBytes` together (at least one). */
function takeUpTo(queue: Waiting[], maxBytes: number): Waiting[] {
  let bytes = 0;
  let n = 0;
  while (n < queue.length) {
    const size = queue[n]!.records.reduce((sum, r) => sum + (r.value?.length ?? 0) + (r.key?.length ?? 0) + 64, 0);
    if (n > 0 && bytes + size > maxBytes) break;
    bytes += size;
    n++;
  }
  return queue.splice(0, n);
}

/**
 * The leader's side: appends a follower's forwarded batch through the log's normal path (under
 * acknowledge: 'committed' the append resolves once the commit covers it), creating the topic
 * first when asked. The base offset; -1 for a request without records.
 */
export function leaderAppends(log: Log): (request: ForwardRequest) => Promise<number> {
  return async (request) => {
    if (request.createPartitions > 0) {
      let known = true;
      try {
        log.partitionCount(request.topic);
      } catch (err) {
        if (!(err instanceof UnknownTopicError)) throw err;
        known = false;
      }
      if (!known) await log.createTopic(request.topic, request.createPartitions);
    }
    if (request.batch.length === 0) return -1;
    // Stored as the follower encoded it (offsets patched), answered once committed.
    return (await log.appendBatch(request.topic, request.partition, request.batch)).baseOffset;
  };
}
