// Reads one node's stored records for the checker, as NDJSON with values in base64 (so the bytes
// compare exactly), from a running node or a stopped one:
// - readReplica: GET /api/topics/{topic}/records on its HTTP API. The ranges header gives, per
//   partition, where the node's readable records end: its high watermark, since reads stop there
//   (docs/architecture.md).
// - readReplicaFromDataDir: `tributary replay --data-dir` on a stopped (killed) node's data
//   directory; the high watermark is the end `tributary topics --data-dir` reports.
import { spawn } from 'node:child_process';
import { request, type IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { CLI } from '../cli.js';
import type { Replica, StoredRecord } from './checker.js';

interface Line {
  topic: string;
  partition: number;
  offset: number;
  value: string | { base64: string } | null;
  error?: unknown;
}

/** The records of an NDJSON stream (values in base64), with `idOf` applied to each value. */
async function records(node: string, input: Readable, idOf: (value: Buffer) => string | null): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  for await (const text of createInterface({ input })) {
    if (text === '') continue;
    const line = JSON.parse(text) as Line;
    if (line.error !== undefined) throw new Error(`${node}: the records stream ended with ${JSON.stringify(line.error)}`);
    const bytes = line.value === null ? Buffer.alloc(0) : typeof line.value === 'string' ? Buffer.from(line.value, 'base64') : Buffer.from(line.value.base64, 'base64');
    out.push({ topic: line.topic, partition: line.partition, offset: line.offset, id: idOf(bytes), bytes });
  }
  return out;
}

/** `idOf(value)`: the message id a stored value carries (null when it is none of the history's). */
export async function readReplica(node: string, httpUrl: string, token: string | null, topic: string, idOf: (value: Buffer) => string | null): Promise<Replica> {
  const url = new URL(`/api/topics/${encodeURIComponent(topic)}/records?base64=true`, httpUrl);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { headers: token === null ? {} : { authorization: `Bearer ${token}` } }, resolve);
    req.on('error', reject);
    req.end();
  });
  if (res.statusCode !== 200) {
    res.resume();
    throw new Error(`${node}: GET ${url.pathname} answered ${res.statusCode}`);
  }
  const ranges = JSON.parse(String(res.headers['x-tributary-ranges'] ?? '[]')) as Array<{ partition: number; to: number }>;
  return { node, records: await records(node, res, idOf), highWatermarks: Object.fromEntries(ranges.map((r) => [`${topic}/${r.partition}`, r.to])) };
}

/** Runs `tributary ARGS`, handing its stdout to `read`; rejects with its stderr on a non-zero exit. */
async function cli<T>(args: string[], read: (stdout: Readable) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const result = await read(child.stdout);
  const code = await exited;
  if (code !== 0) throw new Error(`tributary ${args.join(' ')} exited ${code}: ${stderr.trim()}`);
  return result;
}

/** The same from a stopped node's data directory (a node that was killed cannot answer HTTP). */
export async function readReplicaFromDataDir(node: string, dataDir: string, topic: string, idOf: (value: Buffer) => string | null): Promise<Replica> {
  const topics = await cli(['topics', '--data-dir', dataDir, '--json'], async (stdout) => {
    let text = '';
    for await (const chunk of stdout) text += String(chunk);
    return JSON.parse(text) as { topics: Array<{ name: string; partitions: Array<{ partition: number; logEndOffset: number }> }> };
  });
  const partitions = topics.topics.find((t) => t.name === topic)?.partitions ?? [];
  const stored = await cli(['replay', '--data-dir', dataDir, '--topic', topic, '--base64'], (stdout) => records(node, stdout, idOf));
  return { node, records: stored, highWatermarks: Object.fromEntries(partitions.map((p) => [`${topic}/${p.partition}`, p.logEndOffset])) };
}
