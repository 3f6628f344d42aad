// Reads one node's stored records for the checker through its HTTP API (GET
// /api/topics/{topic}/records, NDJSON, values in base64 so the bytes compare exactly). The ranges
// header gives, per partition, where the node's readable records end: its high watermark, since
// reads stop there (docs/architecture.md).
import { createInterface } from 'node:readline';
import { request } from 'node:http';
import type { Replica, StoredRecord } from './checker.js';

interface Line {
  topic: string;
  partition: number;
  offset: number;
  value: string | { base64: string } | null;
}

/** `idOf(value)`: the message id a stored value carries (null when it is none of the history's). */
export async function readReplica(node: string, httpUrl: string, token: string | null, topic: string, idOf: (value: Buffer) => string | null): Promise<Replica> {
  const url = new URL(`/api/topics/${encodeURIComponent(topic)}/records?base64=true`, httpUrl);
  const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    const req = request(url, { headers: token === null ? {} : { authorization: `Bearer ${token}` } }, resolve);
    req.on('error', reject);
    req.end();
  });
  if (res.statusCode !== 200) {
    res.resume();
    throw new Error(`${node}: GET ${url.pathname} answered ${res.statusCode}`);
  }
  const ranges = JSON.parse(String(res.headers['x-tributary-ranges'] ?? '[]')) as Array<{ partition: number; to: number }>;
  const records: StoredRecord[] = [];
  for await (const text of createInterface({ input: res })) {
    if (text === '') continue;
    const line = JSON.parse(text) as Line & { error?: unknown };
    if (line.error !== undefined) throw new Error(`${node}: the records stream ended with ${JSON.stringify(line.error)}`);
    const bytes = line.value === null ? Buffer.alloc(0) : typeof line.value === 'string' ? Buffer.from(line.value, 'base64') : Buffer.from(line.value.base64, 'base64');
    records.push({ topic: line.topic, partition: line.partition, offset: line.offset, id: idOf(bytes), bytes });
  }
  return { node, records, highWatermarks: Object.fromEntries(ranges.map((r) => [`${topic}/${r.partition}`, r.to])) };
}
