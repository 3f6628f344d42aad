// A real Apache Kafka for a test: test/kafka/kafka.sh provisions it from Maven Central and starts
// one KRaft node on 127.0.0.1. Each call gets its own node (own port, own data), stopped with the
// test. Without Java or Maven the test fails and says what to install; it is never skipped.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../../test/kafka/kafka.sh', import.meta.url));

export interface KafkaNode {
  bootstrap: string;
  /** Stops it gracefully and removes its data. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash or a power cut; its data stays for restart(). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>;
}

/** Where the node's stop is registered: a test's context, or a suite's list of cleanups. */
export type CleanupHost = Pick<TestContext, 'after'> | { after(fn: () => Promise<void>): void };

export async function startKafka(t: CleanupHost): Promise<KafkaNode> {
  const start = async (stateDir?: string): Promise<{ dir: string; bootstrap: string }> => {
    try {
      const { stdout } = await run(SCRIPT, ['start'], { env: { ...process.env, ...(stateDir === undefined ? {} : { KAFKA_STATE_DIR: stateDir }) }, timeout: 360_000 });
      const [dir, bootstrap] = stdout.trim().split('\n').slice(-2) as [string, string];
      return { dir, bootstrap };
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      throw new Error(`cannot start Kafka for this test: ${stderr.trim() || (err as Error).message}`);
    }
  };
  const { dir, bootstrap } = await start();
  const stop = async (): Promise<void> => void (await run(SCRIPT, ['stop', dir]));
  t.after(stop);
  return {
    bootstrap,
    stop,
    kill: async () => {
      const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      process.kill(pid, 'SIGKILL');
      while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
    },
    restart: async () => void (await start(dir)),
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
