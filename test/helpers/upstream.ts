// Reading what reached Kafka with an independent client: kcat (librdkafka), read_committed, so
// that aborted transactions are invisible exactly as to any downstream consumer.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Admin, FetchIsolationLevels } from '@platformatic/kafka';
import type { UpstreamStatus } from '../../bridge/upstream/forwarder.js';

const run = promisify(execFile);

export interface UpstreamRecord {
  partition: number;
  offset: number;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/**
 * Every committed record of `topic`, per partition in offset order. Values must be plain text.
 * First waits until every transaction on the topic is settled (see waitForSettledTransactions):
 * a read_committed reader stops at the last stable offset, and a transaction whose commit was
 * already acknowledged to the forwarder can still sit below it for a moment.
 */
export async function readUpstream(bootstrap: string, topic: string, extra: string[] = []): Promise<UpstreamRecord[]> {
  await waitForSettledTransactions(bootstrap, topic);
  const { stdout } = await run(
    'kcat',
    ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-q', '-X', 'isolation.level=read_committed', '-f', '%p\t%o\t%k\t%s\t%h\n', ...extra],
    { maxBuffer: 256 * 1024 * 1024, timeout: 120_000 },
  );
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [partition, offset, key, value, headers] = line.split('\t') as [string, string, string, string, string];
      return {
        partition: Number(partition),
        offset: Number(offset),
        key,
        value,
        headers: Object.fromEntries(headers.split(',').filter((h) => h !== '').map((h) => h.split('=') as [string, string])),
      };
    });
}

/**
 * Waits until the last stable offset equals the high-water mark in every partition of `topic`.
 * Kafka answers a producer's EndTxn (commit) once the decision is in the transaction log, and only
 * then writes the commit markers into the data partitions; until a partition has its marker, its
 * last stable offset stays before the transaction, and read_committed readers (kcat -e too) end
 * there. So "the forwarder has committed everything" does not yet mean "a reader sees everything".
 * Throws when a transaction stays open: callers read when no producer has one under way.
 */
export async function waitForSettledTransactions(bootstrap: string, topic: string, timeoutMs = 60_000): Promise<void> {
  const admin = new Admin({ clientId: 'upstream-reader', bootstrapBrokers: [bootstrap] });
  try {
    const metadata = await admin.metadata({ topics: [topic] });
    const partitions = Array.from({ length: metadata.topics.get(topic)!.partitionsCount }, (_, partitionIndex) => ({ partitionIndex, timestamp: -1n }));
    const latest = async (isolationLevel: 0 | 1): Promise<Map<number, bigint>> => {
      const [listed] = await admin.listOffsets({ topics: [{ name: topic, partitions }], isolationLevel });
      return new Map(listed!.partitions.map((p) => [p.partitionIndex, p.offset]));
    };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stable = await latest(FetchIsolationLevels.READ_COMMITTED);
      const end = await latest(FetchIsolationLevels.READ_UNCOMMITTED);
      const open = [...end].filter(([p, hwm]) => stable.get(p) !== hwm).map(([p, hwm]) => `partition ${p}: last stable offset ${stable.get(p)}, high-water mark ${hwm}`);
      if (open.length === 0) return;
      if (Date.now() > deadline) throw new Error(`a transaction on ${topic} is still open after ${timeoutMs / 1000} s (${open.join('; ')})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await admin.close();
  }
}

/** Polls a status until `condition` holds; the deadline is generous because Kafka restarts are slow on a busy machine. */
export async function waitForStatus(status: () => UpstreamStatus, condition: (s: UpstreamStatus) => boolean, what: string, timeoutMs = 120_000): Promise<UpstreamStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = status();
    if (condition(s)) return s;
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs / 1000} s; status: ${JSON.stringify(s)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Everything stored has been forwarded: no lag in any partition. */
export const caughtUp = (expected: number) => (s: UpstreamStatus): boolean =>
  s.state === 'forwarding' && s.totalLag === 0 && s.partitions.reduce((n, p) => n + (p.forwardedOffset ?? 0), 0) >= expected;
