// The central Kafka against the edge log (issue 17: "the central Kafka holds every acknowledged
// record exactly once after the faults"). Pure. The forwarder writes each edge record with its
// partition and offset in headers (`tributary.partition`, `tributary.offset`, docs/upstream.md), so
// exactly once is checkable record by record: every offset of the reference replica below its high
// watermark is upstream once, with the same value, and nothing else is. With the main checker
// (every acknowledged message is in the reference replica), every acknowledged message is then
// upstream, and only as often as the edge log holds it (a QoS 1 resend the log holds twice is
// forwarded twice, as MQTT allows).
import type { Replica } from './checker.js';

/** One committed record read from the central Kafka (kcat, read_committed). */
export interface CentralRecord {
  value: string;
  headers: Record<string, string>;
}

export interface UpstreamReport {
  ok: boolean;
  /** Edge records (`topic/partition@offset`) the central Kafka does not hold. */
  missing: string[];
  /** Edge records it holds more than once. */
  twice: string[];
  /** Upstream records whose value differs from the edge record they name, or that name none. */
  differing: string[];
  forwarded: number;
  summary: string;
}

export function checkUpstream(reference: Replica, topic: string, central: readonly CentralRecord[]): UpstreamReport {
  const edge = new Map<string, Buffer>();
  for (const r of reference.records) {
    if (r.topic !== topic || r.offset >= (reference.highWatermarks[`${topic}/${r.partition}`] ?? Infinity)) continue;
    edge.set(`${topic}/${r.partition}@${r.offset}`, r.bytes);
  }
  const seen = new Map<string, number>();
  const differing: string[] = [];
  for (const record of central) {
    const name = `${topic}/${record.headers['tributary.partition']}@${record.headers['tributary.offset']}`;
    seen.set(name, (seen.get(name) ?? 0) + 1);
    const bytes = edge.get(name);
    if (bytes === undefined || bytes.toString() !== record.value) differing.push(name);
  }
  const missing = [...edge.keys()].filter((name) => !seen.has(name));
  const twice = [...seen].filter(([, n]) => n > 1).map(([name]) => name);
  const ok = missing.length === 0 && twice.length === 0 && differing.length === 0;
  const summary = `upstream: ${central.length} records for ${edge.size} in the edge log, ${missing.length} missing, ${twice.length} twice, ${differing.length} differing`;
  return { ok, missing, twice, differing, forwarded: central.length, summary };
}
