// The harness's checker (Jepsen's method): what every client was told against what every replica
// holds. Pure: the history and the replicas' records come in as data, a report comes out.
//
// Checks, and the invariant of docs/replication.md each one tests:
// - lost: a PUBACKed (or PUBCOMPed) message that the reference replica does not hold (invariant 2,
//   no acknowledged record lost). The reference is the replica the caller names (the leader after
//   the faults healed), else the one with the highest high watermark.
// - duplicates: a message id stored more than once on the reference. At QoS 2 that is a failure
//   (exactly once, invariant 5); at QoS 1 MQTT allows it after a resend ([MQTT-4.3.2]), so it is
//   counted only.
// - order: per publisher and partition, the first copies of its messages must be in the order it
//   sent them ([MQTT-4.6.0-6]: a server treats a topic's messages as ordered). A resent duplicate
//   that lands after later messages is a duplicate, not an order violation.
// - divergence: two replicas' records below both their high watermarks must be byte-identical
//   (invariant 3).

/** One publish a client made. */
export interface Operation {
  publisher: string;
  /** Unique per message across the history (e.g. `publisher/seq`); the stored record carries it. */
  id: string;
  /** The publisher's sending order. */
  seq: number;
  qos: 0 | 1 | 2;
  sentAt: number;
  /** PUBACK (QoS 1) or PUBCOMP (QoS 2) received. */
  acked: boolean;
  /** The node the client was connected to. */
  node: string;
}

/** One stored record, as read from a replica. */
export interface StoredRecord {
  topic: string;
  partition: number;
  offset: number;
  /** The message id the record carries (see Operation.id); null for records no client of the history sent. */
  id: string | null;
  /** The stored bytes (value, or the whole record) compared between replicas. */
  bytes: Buffer;
}

export interface Replica {
  node: string;
  records: StoredRecord[];
  /** High watermark per `topic/partition`; a partition it does not name is compared in full. */
  highWatermarks: Record<string, number>;
}

export interface CheckReport {
  ok: boolean;
  reference: string;
  acknowledged: number;
  /** Acknowledged messages the reference does not hold. */
  lost: Operation[];
  /** Stored but never acknowledged (allowed: the client may have given up before PUBACK). */
  unacknowledgedStored: number;
  qos1Duplicates: number;
  qos2Duplicates: Array<{ id: string; copies: number }>;
  orderViolations: Array<{ publisher: string; partition: string; after: number; seq: number; offset: number }>;
  divergent: Array<{ a: string; b: string; partition: string; offset: number; why: string }>;
  summary: string;
}

const key = (r: { topic: string; partition: number }): string => `${r.topic}/${r.partition}`;

function pickReference(replicas: readonly Replica[], name?: string): Replica {
  if (name !== undefined) {
    const named = replicas.find((r) => r.node === name);
    if (named === undefined) throw new Error(`no replica named ${name}`);
    return named;
  }
  const total = (r: Replica): number => Object.values(r.highWatermarks).reduce((a, b) => a + b, 0);
  return [...replicas].sort((a, b) => total(b) - total(a))[0]!;
}

export function check(history: readonly Operation[], replicas: readonly Replica[], options: { reference?: string } = {}): CheckReport {
  if (replicas.length === 0) throw new Error('the checker needs at least one replica');
  const reference = pickReference(replicas, options.reference);
  const byId = new Map(history.map((op) => [op.id, op]));

  const copies = new Map<string, StoredRecord[]>();
  for (const r of reference.records) {
    if (r.id === null) continue;
    const list = copies.get(r.id);
    if (list === undefined) copies.set(r.id, [r]);
    else list.push(r);
  }

  const acknowledged = history.filter((op) => op.acked && op.qos > 0);
  const lost = acknowledged.filter((op) => !copies.has(op.id));
  let unacknowledgedStored = 0;
  let qos1Duplicates = 0;
  const qos2Duplicates: CheckReport['qos2Duplicates'] = [];
  for (const [id, list] of copies) {
    const op = byId.get(id);
    if (op !== undefined && !op.acked) unacknowledgedStored++;
    if (list.length < 2) continue;
    if (op?.qos === 2) qos2Duplicates.push({ id, copies: list.length });
    else qos1Duplicates += list.length - 1;
  }

  const orderViolations = checkOrder(reference, byId);
  const divergent: CheckReport['divergent'] = [];
  for (const other of replicas) if (other !== reference) divergent.push(...compareReplicas(reference, other));

  const ok = lost.length === 0 && qos2Duplicates.length === 0 && orderViolations.length === 0 && divergent.length === 0;
  const summary = [
    `reference ${reference.node}: ${acknowledged.length} acknowledged`,
    `${lost.length} lost`,
    `${qos2Duplicates.length} QoS 2 duplicated`,
    `${qos1Duplicates} QoS 1 duplicates (allowed)`,
    `${orderViolations.length} order violations`,
    `${divergent.length} divergent replica ranges`,
    `${unacknowledgedStored} stored without acknowledgement`,
  ].join(', ');
  return { ok, reference: reference.node, acknowledged: acknowledged.length, lost, unacknowledgedStored, qos1Duplicates, qos2Duplicates, orderViolations, divergent, summary };
}

/** First copies per publisher and partition, in offset order, must have rising seq. */
function checkOrder(reference: Replica, byId: Map<string, Operation>): CheckReport['orderViolations'] {
  const violations: CheckReport['orderViolations'] = [];
  const seen = new Set<string>();
  const last = new Map<string, number>();
  const records = [...reference.records].sort((a, b) => key(a).localeCompare(key(b)) || a.offset - b.offset);
  for (const r of records) {
    if (r.id === null || seen.has(r.id)) continue;
    seen.add(r.id);
    const op = byId.get(r.id);
    if (op === undefined) continue;
    const lane = `${op.publisher}\u0000${key(r)}`;
    const previous = last.get(lane);
    if (previous !== undefined && op.seq < previous) violations.push({ publisher: op.publisher, partition: key(r), after: previous, seq: op.seq, offset: r.offset });
    else last.set(lane, op.seq);
  }
  return violations;
}

/** Below both high watermarks, the same offsets with the same bytes; the first difference per partition. */
function compareReplicas(a: Replica, b: Replica): CheckReport['divergent'] {
  const out: CheckReport['divergent'] = [];
  const index = (r: Replica): Map<string, Map<number, StoredRecord>> => {
    const m = new Map<string, Map<number, StoredRecord>>();
    for (const rec of r.records) {
      let p = m.get(key(rec));
      if (p === undefined) m.set(key(rec), (p = new Map()));
      p.set(rec.offset, rec);
    }
    return m;
  };
  const ia = index(a);
  const ib = index(b);
  for (const partition of new Set([...ia.keys(), ...ib.keys()])) {
    const limit = Math.min(a.highWatermarks[partition] ?? Infinity, b.highWatermarks[partition] ?? Infinity);
    const pa = ia.get(partition) ?? new Map<number, StoredRecord>();
    const pb = ib.get(partition) ?? new Map<number, StoredRecord>();
    const offsets = [...new Set([...pa.keys(), ...pb.keys()])].filter((o) => o < limit).sort((x, y) => x - y);
    for (const offset of offsets) {
      const ra = pa.get(offset);
      const rb = pb.get(offset);
      const why = ra === undefined ? `missing on ${a.node}` : rb === undefined ? `missing on ${b.node}` : ra.bytes.equals(rb.bytes) ? null : 'different bytes';
      if (why !== null) {
        out.push({ a: a.node, b: b.node, partition, offset, why });
        break;
      }
    }
  }
  return out;
}

/**
 * The QoS 2 duplicates a client's own sendings do not explain. The fault publishers send a message
 * again after a connection ended without PUBCOMP, on a new connection with a new client id and a
 * clean session: for the server that is a new application message (a clean session discards the
 * previous session's QoS 2 state, [MQTT-3.1.2-6]; exactly once holds within a session, [MQTT-4.3.3]),
 * whichever node it reaches, the same or another. So each sending may be stored once; more copies
 * than sendings is a server storing one PUBLISH twice, a failure of exactly once.
 */
export function qos2BeyondSendings(duplicates: CheckReport['qos2Duplicates'], sendings: (id: string) => number): CheckReport['qos2Duplicates'] {
  return duplicates.filter((d) => d.copies > sendings(d.id));
}
