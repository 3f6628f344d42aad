// A real Apache Kafka for a test: test/kafka/kafka.sh provisions it from Maven Central and starts
// one KRaft node on 127.0.0.1. Each call gets its own node (own port, own data), stopped with the
// test. Without Java or Maven the test fails and says what to install; it is never skipped.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../../test/kafka/kafka.sh', import.meta.url));

export interface KafkaNode {
  bootstrap: string;
  /** With { sasl: true }: a SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256/512; tributary / tributary-secret). */
  saslBootstrap: string | null;
  /** With { tls: true }: an SSL listener, and the CA (PEM file) that signed its certificate. */
  tlsBootstrap: string | null;
  caFile: string | null;
  /** Stops it gracefully and removes its data. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash or a power cut; its data stays for restart(). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>;
}

/** Where the node's stop is registered: a test's context, or a suite's list of cleanups. */
export type CleanupHost = Pick<TestContext, 'after'> | { after(fn: () => Promise<void>): void };

export interface KafkaListeners {
  sasl?: boolean;
  tls?: boolean;
  /** The PLAINTEXT listener's address (default 127.0.0.1): a harness network's bridge address, for nodes in namespaces. */
  host?: string;
}

export async function startKafka(t: CleanupHost, listeners: KafkaListeners = {}): Promise<KafkaNode> {
  const env = {
    ...process.env,
    ...(listeners.sasl === true ? { KAFKA_SASL: '1' } : {}),
    ...(listeners.tls === true ? { KAFKA_TLS: '1' } : {}),
    ...(listeners.host === undefined ? {} : { KAFKA_HOST: listeners.host }),
  };
  const start = async (stateDir?: string): Promise<{ dir: string; bootstrap: string }> => {
    try {
      const { stdout } = await run(SCRIPT, ['start'], { env: { ...env, ...(stateDir === undefined ? {} : { KAFKA_STATE_DIR: stateDir }) }, timeout: 360_000 });
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
  const optional = (file: string): string | null => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8').trim() : null);
  return {
    bootstrap,
    saslBootstrap: optional('sasl-bootstrap'),
    tlsBootstrap: optional('tls-bootstrap'),
    caFile: existsSync(join(dir, 'ca.pem')) ? join(dir, 'ca.pem') : null,
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

/**
 * The Java classpath of Kafka's clients and tools (kafka-tools), provisioned by test/kafka/kafka.sh
 * like the Kafka node itself: for running ConsoleConsumer and friends against another server.
 */
export async function kafkaToolsClasspath(): Promise<string> {
  try {
    const { stdout } = await run(SCRIPT, ['classpath'], { timeout: 360_000 });
    return stdout.trim().split('\n').at(-1)!;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`cannot provision the Kafka tools for this test: ${stderr.trim() || (err as Error).message}`);
  }
}

/** Runs one of Kafka's Java tools (kafkaToolsClasspath) to its end; its stdout lines, or an error with its stderr. */
export async function runKafkaTool(classpath: string, tool: string, ...args: string[]): Promise<string[]> {
  try {
    const { stdout } = await run('java', ['-Xshare:auto', '-XX:TieredStopAtLevel=1', '-cp', classpath, tool, ...args], { timeout: 120_000 });
    return stdout.split('\n').filter((line) => line !== '');
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}
