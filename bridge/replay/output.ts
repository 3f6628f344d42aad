// Where replayed bytes go: a file (--out) or stdout. Writes honour backpressure, and flush()
// makes what was written durable (fsync for a file) before a reader position may be committed.
import { createWriteStream, fsync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { UsageError } from '../../broker/errors.js';

const fsyncAsync = promisify(fsync);

export class ByteOutput {
  private failure: Error | null = null;
  /** Settles once the last write so far has been handed to the OS (or failed). */
  private lastWrite: Promise<void> = Promise.resolve();
  private drained: Promise<void> | null = null;

  private constructor(
    private readonly stream: NodeJS.WritableStream & { writableLength?: number },
    private readonly file: WriteStream | null,
    private readonly name: string,
  ) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.failure ??= this.failureOf(err);
    });
  }

  /** A reader that went away (`| head`) is not a failure of ours; anything else is. */
  private failureOf(err: NodeJS.ErrnoException): Error {
    return err.code === 'EPIPE' ? new OutputClosed() : new UsageError(`cannot write ${this.name}: ${err.message}`);
  }

  static async open(path: string | undefined): Promise<ByteOutput> {
    if (path === undefined || path === '-') return new ByteOutput(process.stdout, null, 'stdout');
    const file = createWriteStream(path);
    try {
      await once(file, 'open');
    } catch (err) {
      throw new UsageError(`--out: cannot open ${path}: ${(err as Error).message}`);
    }
    return new ByteOutput(file, file, path);
  }

  async write(bytes: Buffer): Promise<void> {
    if (this.failure !== null) throw this.failure;
    // Write callbacks run in order, so the last one's settling means every earlier write is done.
    // (Not 'drain': Node emits it only after a write() returned false, never for a small tail.)
    this.lastWrite = new Promise((resolve) => {
      const accepted = this.stream.write(bytes, (err?: Error | null) => {
        if (err != null && this.failure === null) this.failure = this.failureOf(err as NodeJS.ErrnoException);
        resolve();
      });
      if (!accepted) this.drained = once(this.stream, 'drain').then(() => undefined, () => undefined); // 'error' rejects it; this.failure says why
    });
    if (this.drained !== null) {
      await this.drained;
      this.drained = null;
    }
    if (this.failure !== null) throw this.failure;
  }

  /** Everything written so far has left this process (and, for a file, reached the disk). */
  async flush(): Promise<void> {
    await this.lastWrite;
    if (this.failure !== null) throw this.failure;
    if (this.file !== null) await fsyncAsync((this.file as unknown as { fd: number }).fd);
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.file !== null) await new Promise<void>((resolve) => this.file!.end(resolve));
  }
}

/** The consumer of stdout closed it (`| head -n 10`): the replay stops quietly. */
export class OutputClosed extends Error {
  constructor() {
    super('output closed by its reader');
  }
}
