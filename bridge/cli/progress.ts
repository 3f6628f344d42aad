// A one-line progress bar with rate and ETA for long CLI runs. Drawn on stderr only when stderr is
// a terminal, at most ten times a second; on a pipe or file it writes nothing at all, so scripts
// and logs see only the command's real output.
import type { WriteStream } from 'node:tty';

export class Progress {
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;
  private done = 0;

  constructor(
    private readonly total: number,
    private readonly unit: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  get enabled(): boolean {
    return this.out.isTTY === true;
  }

  /** Sets how much is done (of `total`); redraws when due. */
  update(done: number): void {
    this.done = done;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.draw(now);
  }

  /** Clears the bar and, on a terminal, leaves one summary line. */
  finish(summary: string): void {
    if (!this.enabled) return;
    const tty = this.out as WriteStream;
    if (this.drawn) tty.write('\r\x1b[K');
    tty.write(`${summary}\n`);
  }

  /** The elapsed seconds, for summaries. */
  get seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  private draw(now: number): void {
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const rate = this.done / seconds;
    const fraction = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const eta = rate > 0 ? (this.total - this.done) / rate : Infinity;
    const columns = (this.out as WriteStream).columns ?? 80;
    const text = ` ${(fraction * 100).toFixed(0).padStart(3)}% ${formatCount(this.done)}/${formatCount(this.total)} ${this.unit}  ${formatCount(rate)}/s  ETA ${formatDuration(eta)}`;
    const width = Math.max(10, Math.min(40, columns - text.length - 3));
    const filled = Math.round(fraction * width);
    this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${text}\x1b[K`);
    this.drawn = true;
  }
}

export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}
