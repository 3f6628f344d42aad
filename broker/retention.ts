// Runs the log's retention on a cron schedule (node-cron, so operators can say "every minute" or
// "at 03:00" the way they already do elsewhere). One run at a time: a slow run on an SD card is
// never overlapped by the next.
import { schedule, type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Log } from './log/log.js';

export class RetentionScheduler {
  private readonly task: ScheduledTask;
  private stopped = false;

  constructor(
    private readonly log: Log,
    cronExpression: string,
    private readonly logger?: Logger,
    /** Told of a failed pass (the dashboard's recent errors). */
    private readonly onError?: (err: Error) => void,
  ) {
    this.task = schedule(cronExpression, () => this.runOnce(), { noOverlap: true, name: 'retention' });
  }

  /** One retention pass; errors are logged, never thrown into the scheduler. */
  async runOnce(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.log.enforceRetention();
    } catch (err) {
      this.logger?.error({ err }, 'retention pass failed; it will run again at the next schedule');
      this.onError?.(err as Error);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.task.destroy();
  }
}
