// The last few problems the components reported, for the dashboard. A problem that repeats (a
// device refused at every reconnect) updates its entry instead of pushing the others out, so a
// noisy client cannot hide a rarer error.
import { partitionKey } from '../shared/partition-key.js';
import type { UpstreamSource } from './metrics.js';

export interface RecentError {
  /** Which component reported it: mqtt, log, retention, upstream. */
  component: string;
  /** What kind of problem; entries with the same component and summary are one entry. */
  summary: string;
  /** The latest occurrence's details. */
  detail: string;
  count: number;
  firstAt: string;
  lastAt: string;
}

export class RecentErrors {
  /** Oldest first; the most recently seen entry is last. */
  readonly #entries: RecentError[] = [];

  constructor(private readonly capacity = 20) {}

  add(component: string, summary: string, detail = summary, now = new Date()): void {
    const at = now.toISOString();
    const index = this.#entries.findIndex((e) => e.component === component && e.summary === summary);
    if (index >= 0) {
      const [entry] = this.#entries.splice(index, 1);
      this.#entries.push({ ...entry!, detail, count: entry!.count + 1, lastAt: at });
      return;
    }
    this.#entries.push({ component, summary, detail, count: 1, firstAt: at, lastAt: at });
    if (this.#entries.length > this.capacity) this.#entries.shift();
  }

  /** Most recent first. */
  list(): RecentError[] {
    return this.#entries.slice().reverse();
  }
}

/**
 * Polls the upstream forwarder's status and records each error as it appears: the forwarder keeps
 * only its last error (per partition and overall), so a change of text is a new occurrence.
 * Returns the function that stops polling.
 */
export function watchUpstreamErrors(source: UpstreamSource, errors: RecentErrors, everyMs = 1000): () => void {
  const seen = new Map<string, string | null>();
  const note = (where: string, error: string | null | undefined): void => {
    const previous = seen.get(where) ?? null;
    seen.set(where, error ?? null);
    if (error === null || error === undefined || error === previous) return;
    // "CODE: message" from the forwarder: the code names the kind of problem.
    const code = /^([A-Z][A-Z0-9_]+):/.exec(error)?.[1];
    errors.add('upstream', code === undefined ? error : `forwarding failed: ${code}`, where === '' ? error : `${where}: ${error}`);
  };
  const poll = (): void => {
    const status = source.status();
    note('', status.lastError);
    for (const p of status.partitions) note(partitionKey(p.topic, p.partition), p.lastError);
  };
  const timer = setInterval(poll, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
