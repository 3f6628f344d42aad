// Reads one node's stored records for the checker, as NDJSON with values in base64 (so the bytes
// compare exactly), from a running node or a stopped one:
// - readReplica: GET /api/topics/{topic}/records on its HTTP API. The ranges header gives, per
//   partition, where the node's readable records end: its high watermark, since reads stop there
//   (docs/architecture.md).
// - readReplicaFromDataDir: `tributary replay --data-dir` on a stopped (killed) node's data
//   directory; the high watermark is the end `tributary topics --data-dir` reports.
// - readEpochs: the leader epoch stamped in each stored batch of a topic, and who led each epoch
//   (the epoch-start records), from the node's log file opened read-only (SQLite readers do not
//   disturb the node's writer: WAL). Read after the cluster converged, the file holds only
//   committed entries.
import { spawn } from 'node:child_process';
import { request, type IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { EPOCHS_TOPIC, type EpochRecord } from '../../../bridge/cluster/epoch-record.js';
import { decodeBatch } from '../../../broker/log/record-batch.js';
import { DATABASE_FILE, openDatabase } from '../../../broker/log/schema.js';
import { CLI } from '../cli.js';
import type { Replica, StoredRecord } from './checker.js';
import type { BatchEpoch } from './epoch-checker.js';

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

/** The leader epoch of each stored batch of `topic`, and the leader each epoch-start record names. */
export function readEpochs(dataDir: string, topic: string): { batches: BatchEpoch[]; leaders: Map<number, string> } {
  const db = openDatabase(join(dataDir, DATABASE_FILE), { readonly: true });
  try {
    const rows = (topicName: string): Array<BatchEpoch & { data: Buffer }> =>
      db
        .prepare(
          `SELECT p.topic, p.partition, b.base_offset AS baseOffset, b.last_offset AS lastOffset, b.leader_epoch AS epoch, b.data
           FROM batches b JOIN partitions p ON p.id = b.partition_id WHERE p.topic = ? ORDER BY b.id`,
        )
        .all(topicName) as Array<BatchEpoch & { data: Buffer }>;
    const batches = rows(topic).map(({ data: _data, ...b }) => b);
    const leaders = new Map<number, string>();
    for (const row of rows(EPOCHS_TOPIC)) {
      for (const record of decodeBatch(row.data).records) {
        const value = JSON.parse(String(record.value)) as EpochRecord;
        const before = leaders.get(value.epoch);
        if (before !== undefined && before !== value.leader) throw new Error(`${dataDir}: epoch ${value.epoch} has two start records, ${before} and ${value.leader}`);
        leaders.set(value.epoch, value.leader);
      }
    }
    return { batches, leaders };
  } finally {
    db.close();
  }
}
