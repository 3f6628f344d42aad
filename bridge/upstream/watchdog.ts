// Time limits around calls into the Kafka client. The client has its own request timeouts and
// retries, but a request lost inside it (seen after a broker restart) never settles; these bound
// what the forwarder waits for, so that a lost request ends in a reconnect instead of a stall.
import { UpstreamUnavailableError } from './errors.js';

/** When an operation last showed progress. */
export class Heartbeat {
  last = Date.now();
  beat(): void {
    this.last = Date.now();
  }
}

/**
 * Fails an operation that takes longer than `limitMs` (far more than the client's own request
 * timeouts and retries allow) with UpstreamUnavailableError naming `what`. With a heartbeat, the
 * limit counts from its last beat: a long read that moves on is not stuck.
 */
export async function watchdog<T>(operation: Promise<T>, what: string, limitMs: number, alive: Heartbeat = new Heartbeat()): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    const check = (): void => {
      const idle = Date.now() - alive.last;
      if (idle >= limitMs) reject(new UpstreamUnavailableError(`no answer from Kafka within ${limitMs} ms while ${what}`));
      else timer = setTimeout(check, limitMs - idle);
    };
    timer = setTimeout(check, limitMs);
  });
  try {
    return await Promise.race([operation, expired]);
  } finally {
    clearTimeout(timer);
    operation.catch(() => undefined);
  }
}

/** Waits for `operation` at most `ms`, whatever its outcome. */
export async function bounded(operation: Promise<unknown>, ms: number): Promise<void> {
  await Promise.race([operation.then(() => undefined, () => undefined), sleep(ms)]);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
