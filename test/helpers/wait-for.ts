/**
 * How long a test waits for something that must happen (a log line, a status, a delivery, a process
 * up). Generous on purpose: CI runs on a shared, loaded 2-core machine where such things come seconds
 * late, and a wait that is met costs only its own time. A broken build still fails, after this bound,
 * instead of hanging (scripts/run-tests.js ends a whole file only after 20 min).
 */
export const PATIENCE_MS = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `condition` every `everyMs` until it holds or `timeoutMs` has passed; whether it held. For
 * a caller whose own assertion after the wait says more than "timed out" would.
 */
export async function pollUntil(condition: () => boolean | Promise<boolean>, timeoutMs = PATIENCE_MS, everyMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/** Polls until `condition` holds; gives up after `timeoutMs` (PATIENCE_MS) so that a broken build fails instead of hanging. */
export async function waitFor(condition: () => boolean | Promise<boolean>, what = 'condition', timeoutMs = PATIENCE_MS, everyMs = 10): Promise<void> {
  if (!(await pollUntil(condition, timeoutMs, everyMs))) throw new Error(`${what} not met within ${timeoutMs / 1000} s`);
}
