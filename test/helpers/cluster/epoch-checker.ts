// Invariant 1 of docs/replication.md as a check: one leader per epoch, so no two nodes acknowledged
// in the same epoch. Pure, like checker.ts: the data comes in, a report comes out.
//
// Three sources, each from a different party, checked against each other:
// - the node that acknowledged a message: the publisher's (the address its connection went to,
//   where the PUBACK/PUBCOMP came from);
// - the epoch it was acknowledged in: the leader epoch stamped in the batch that stores it on the
//   reference replica (a leader stamps every batch it appends with its epoch; followers copy the
//   bytes). Where the message is stored more than once (a resend across a failover) the acknowledged
//   copy is the one of the highest epoch: the attempt that was acknowledged is the last one, and an
//   earlier attempt's copy was appended in the same or an earlier epoch;
// - who led each epoch: the epoch-start records (`__tributary_epochs`, {epoch, leader}) each leader
//   appends first, and the epoch the node said it led when the publisher connected (GET
//   /api/cluster right after CONNACK). A leader that steps down closes its MQTT connections
//   (invariant 4), so every acknowledgement on a connection is in the epoch it was opened in.
// Checks: per epoch a single acknowledging node; that node is the one the epoch's record names; the
// stamped epoch is the one the node said it led at connect (when it answered).
import type { Replica } from './checker.js';

/** An acknowledged message: who acknowledged it, and the epoch that node said it led at connect. */
export interface Acknowledgement {
  id: string;
  node: string;
  /** null: the node did not answer GET /api/cluster as a leader right after CONNACK. */
  epochAtConnect: number | null;
}

/** One stored batch's offsets and the leader epoch stamped in it. */
export interface BatchEpoch {
  topic: string;
  partition: number;
  baseOffset: number;
  lastOffset: number;
  epoch: number;
}

export interface EpochReport {
  ok: boolean;
  /** Per epoch in which anything was acknowledged: the nodes that acknowledged in it, how many. */
  epochs: Array<{ epoch: number; leader: string | null; nodes: string[]; acknowledged: number }>;
  /** Epochs in which more than one node acknowledged (invariant 1 broken). */
  shared: Array<{ epoch: number; nodes: string[] }>;
  /** Acknowledged by a node other than the one the epoch's start record names. */
  notTheLeader: Array<{ id: string; epoch: number; node: string; leader: string | null }>;
  /** Stored in another epoch than the one the acknowledging node said it led at connect. */
  otherEpochThanAtConnect: Array<{ id: string; node: string; atConnect: number; stored: number }>;
  /** Acknowledged but not stored on the reference (the main checker reports them as lost). */
  unattributed: number;
  summary: string;
}

const key = (topic: string, partition: number): string => `${topic}/${partition}`;

/** The epoch stamped on each stored record of `reference`, by `topic/partition/offset`. */
function epochsOf(batches: readonly BatchEpoch[]): (topic: string, partition: number, offset: number) => number | null {
  const byPartition = new Map<string, BatchEpoch[]>();
  for (const b of batches) {
    const list = byPartition.get(key(b.topic, b.partition));
    if (list === undefined) byPartition.set(key(b.topic, b.partition), [b]);
    else list.push(b);
  }
  for (const list of byPartition.values()) list.sort((x, y) => x.baseOffset - y.baseOffset);
  return (topic, partition, offset) => {
    const list = byPartition.get(key(topic, partition)) ?? [];
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const b = list[mid]!;
      if (offset < b.baseOffset) hi = mid - 1;
      else if (offset > b.lastOffset) lo = mid + 1;
      else return b.epoch;
    }
    return null;
  };
}

export function checkAcknowledgementEpochs(
  acknowledgements: readonly Acknowledgement[],
  reference: Replica,
  batches: readonly BatchEpoch[],
  leaders: ReadonlyMap<number, string>,
): EpochReport {
  const epochAt = epochsOf(batches);
  const stored = new Map<string, number>();
  for (const r of reference.records) {
    if (r.id === null) continue;
    const epoch = epochAt(r.topic, r.partition, r.offset);
    if (epoch === null) throw new Error(`no batch of ${reference.node} holds ${r.topic}/${r.partition} offset ${r.offset}`);
    stored.set(r.id, Math.max(stored.get(r.id) ?? -1, epoch));
  }

  const byEpoch = new Map<number, Map<string, number>>();
  const notTheLeader: EpochReport['notTheLeader'] = [];
  const otherEpochThanAtConnect: EpochReport['otherEpochThanAtConnect'] = [];
  let unattributed = 0;
  for (const ack of acknowledgements) {
    const epoch = stored.get(ack.id);
    if (epoch === undefined) {
      unattributed++;
      continue;
    }
    let nodes = byEpoch.get(epoch);
    if (nodes === undefined) byEpoch.set(epoch, (nodes = new Map()));
    nodes.set(ack.node, (nodes.get(ack.node) ?? 0) + 1);
    const leader = leaders.get(epoch) ?? null;
    if (leader !== ack.node) notTheLeader.push({ id: ack.id, epoch, node: ack.node, leader });
    if (ack.epochAtConnect !== null && ack.epochAtConnect !== epoch) otherEpochThanAtConnect.push({ id: ack.id, node: ack.node, atConnect: ack.epochAtConnect, stored: epoch });
  }

  const epochs = [...byEpoch.entries()]
    .sort(([a], [b]) => a - b)
    .map(([epoch, nodes]) => ({ epoch, leader: leaders.get(epoch) ?? null, nodes: [...nodes.keys()].sort(), acknowledged: [...nodes.values()].reduce((a, b) => a + b, 0) }));
  const shared = epochs.filter((e) => e.nodes.length > 1).map(({ epoch, nodes }) => ({ epoch, nodes }));
  const ok = shared.length === 0 && notTheLeader.length === 0 && otherEpochThanAtConnect.length === 0;
  const summary = [
    `acknowledgements in ${epochs.length} epochs (${epochs.map((e) => `${e.epoch}:${e.nodes.join('+')}`).join(' ')})`,
    `${shared.length} epochs acknowledged by two nodes`,
    `${notTheLeader.length} acknowledged by another node than the epoch's leader`,
    `${otherEpochThanAtConnect.length} stored in another epoch than the node led at connect`,
    `${unattributed} not stored`,
  ].join(', ');
  return { ok, epochs, shared, notTheLeader, otherEpochThanAtConnect, unattributed, summary };
}
