// The disk budget of a data directory: how many bytes its files may take (`log.disk.maxBytes`) and
// how much space the file system must keep free (`log.disk.minFreeBytes`). The log checks it once
// a second (a readdir, a stat per file and a statfs: too dear per append, cheap per second). Over
// budget, the log first deletes the oldest batches already forwarded upstream; when nothing more
// may go, it holds appends (TRIB_LOG_DISK_BUDGET, retriable: MQTT publishers wait unacknowledged)
// until the forwarder catches up or space comes back. This module only measures and decides.
import { readdirSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

export interface DiskBudgetSpec {
  /** The most bytes the data directory's files may take on disk; null = no cap. */
  maxBytes: number | null;
  /** The least free space the data directory's file system must keep; null = no floor. */
  minFreeBytes: number | null;
}

export interface DiskUse {
  /** Bytes the data directory's files take on disk (allocated blocks, as `du` counts). */
  usedBytes: number;
  /** Free bytes on its file system for this process (as `df` shows available). */
  freeBytes: number;
}

export const NO_DISK_BUDGET: DiskBudgetSpec = { maxBytes: null, minFreeBytes: null };

/** Measures the data directory's files (not its subdirectories: the log keeps none) and its file system. */
export function measureDiskUse(dataDir: string): DiskUse {
  let usedBytes = 0;
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const stat = statSync(join(dataDir, entry.name), { throwIfNoEntry: false });
    if (stat !== undefined) usedBytes += stat.blocks * 512;
  }
  return { usedBytes, freeBytes: freeBytes(dataDir) };
}

/** Free bytes on `dir`'s file system for this process (as `df` shows available); Infinity if it cannot be asked. */
export function freeBytes(dir: string): number {
  try {
    const stats = statfsSync(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * How many bytes must go for the directory to be within its budget again, 0 when it is. Deleting
 * frees space on the file system too, so the two limits add no differently: the larger shortfall
 * counts.
 */
export function bytesOverBudget(use: DiskUse, spec: DiskBudgetSpec): number {
  const overCap = spec.maxBytes === null ? 0 : use.usedBytes - spec.maxBytes;
  const underFloor = spec.minFreeBytes === null ? 0 : spec.minFreeBytes - use.freeBytes;
  return Math.max(0, overCap, underFloor);
}

/**
 * How much below the budget a pass that has to delete aims, so that it does not run again at the
 * next check: 1/32 of the cap (at least 1 MiB, at most 64 MiB), or 1 MiB with a free-space floor only.
 */
export function budgetHeadroom(spec: DiskBudgetSpec): number {
  const MiB = 1024 * 1024;
  if (spec.maxBytes === null) return MiB;
  return Math.min(64 * MiB, Math.max(MiB, Math.floor(spec.maxBytes / 32)));
}

/** What a disk budget pass asked the log to delete did: see BatchStore.reclaim. */
export interface ReclaimOutcome {
  batchesDeleted: number;
  bytesDeleted: number;
  /** Disk bytes it could not free: everything left is not yet forwarded (or not committed). */
  shortBytes: number;
}

export interface DiskBudgetStatus extends DiskBudgetSpec, DiskUse {
  /** Appends are held: over budget with nothing more that may be deleted. */
  holding: boolean;
  /** Batch bytes deleted early (before retention would have) to keep within the budget, since start. */
  reclaimedBytes: number;
}

export interface DiskBudgetOptions {
  dataDir: string;
  spec: DiskBudgetSpec;
  /** Deletes the oldest forwarded batches to free about `diskBytes` (the log's writer does it). */
  reclaim: (diskBytes: number) => Promise<ReclaimOutcome>;
  logger?: Logger;
  /** How often the directory is measured; default 1 s. */
  intervalMs?: number;
}

/** Measures the data directory on a timer and keeps it within its budget (see the top of this file). */
export class DiskBudget {
  private use: DiskUse;
  /** Batch bytes appended since `use` was measured: a burst triggers a check before the timer does. */
  private appendedSince = 0;
  private holding = false;
  private reclaimedBytes = 0;
  private readonly timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly options: DiskBudgetOptions) {
    this.use = measureDiskUse(options.dataDir);
    const { maxBytes, minFreeBytes } = options.spec;
    if (maxBytes === null && minFreeBytes === null) return;
    this.timer = setInterval(() => void this.check(), options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** True while appends must wait (TRIB_LOG_DISK_BUDGET). */
  get held(): boolean {
    return this.holding;
  }

  /**
   * Told of every append: when what was measured plus what was appended since reaches a limit, the
   * directory is measured now rather than at the next tick (a fast burst would otherwise go a
   * second's worth of appends past the budget).
   */
  noteAppended(bytes: number): void {
    this.appendedSince += bytes;
    const { maxBytes, minFreeBytes } = this.options.spec;
    const soon = (maxBytes !== null && this.use.usedBytes + this.appendedSince >= maxBytes) || (minFreeBytes !== null && this.use.freeBytes - this.appendedSince <= minFreeBytes);
    if (soon && this.running === null) void this.check();
  }

  status(): DiskBudgetStatus {
    return { ...this.options.spec, ...this.use, holding: this.holding, reclaimedBytes: this.reclaimedBytes };
  }

  /** Measures now and, over budget, deletes or holds. One check at a time; resolves when done. */
  check(): Promise<void> {
    this.running ??= this.checkOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private async checkOnce(): Promise<void> {
    if (this.stopped) return;
    const logger = this.options.logger;
    try {
      this.use = measureDiskUse(this.options.dataDir);
      this.appendedSince = 0;
      const over = bytesOverBudget(this.use, this.options.spec);
      if (over === 0) return this.hold(false);
      const outcome = await this.options.reclaim(over + budgetHeadroom(this.options.spec));
      this.reclaimedBytes += outcome.bytesDeleted;
      if (outcome.batchesDeleted > 0) {
        logger?.warn(
          { ...this.status(), batches: outcome.batchesDeleted, bytes: outcome.bytesDeleted },
          'disk budget reached: deleted the oldest batches already forwarded upstream, before retention would have',
        );
      }
      this.hold(outcome.shortBytes > 0);
    } catch (err) {
      if (!this.stopped) logger?.error({ err }, 'disk budget check failed; it runs again in a second');
    }
  }

  private hold(holding: boolean): void {
    if (holding === this.holding) return;
    this.holding = holding;
    if (holding) {
      this.options.logger?.error(this.status(), 'disk budget reached and nothing more may be deleted (all of it is not yet forwarded upstream): appends are held (TRIB_LOG_DISK_BUDGET)');
    } else {
      this.options.logger?.warn(this.status(), 'disk budget: back within it; appends resume');
    }
  }

  /** The reason in words, for the error appends get while held. */
  reason(): string {
    const { maxBytes, minFreeBytes } = this.options.spec;
    const parts: string[] = [];
    if (maxBytes !== null) parts.push(`log.disk.maxBytes ${maxBytes}, used ${this.use.usedBytes}`);
    if (minFreeBytes !== null) parts.push(`log.disk.minFreeBytes ${minFreeBytes}, free ${this.use.freeBytes}`);
    return parts.join('; ');
  }
}
