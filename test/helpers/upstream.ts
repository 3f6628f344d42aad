// Reading what reached Kafka with an independent client: kcat (librdkafka), read_committed, so
// that aborted transactions are invisible exactly as to any downstream consumer.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { UpstreamStatus } from '../../bridge/upstream/forwarder.js';

const run = promisify(execFile);

export interface UpstreamRecord {
  partition: number;
  offset: number;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/** Every committed record of `topic`, per partition in offset order. Values must be plain text. */
export async function readUpstream(bootstrap: string, topic: string, extra: string[] = []): Promise<UpstreamRecord[]> {
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
