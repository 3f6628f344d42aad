// A --raw worker process: runs its share of the sockets and sends the result back over IPC.
import { isConnectFailure, shareOptions, type RawShare, type WorkerProgress, type WorkerReply } from './raw-mode.js';
import { runRawPublisher } from './raw-publisher.js';

const abort = new AbortController();
// The parent decides when to stop (Ctrl-C reaches the whole process group; the parent forwards it).
process.on('SIGINT', () => undefined);
process.on('message', (message: { share?: RawShare; progress?: boolean; stop?: true }) => {
  if (message.stop === true) abort.abort();
  if (message.share !== undefined) void work(message.share, message.progress === true);
});

async function work(share: RawShare, progress: boolean): Promise<void> {
  const onProgress = progress ? (totals: WorkerProgress['progress']) => process.send!({ progress: totals } satisfies WorkerProgress) : undefined;
  let reply: WorkerReply;
  try {
    reply = { result: await runRawPublisher(shareOptions(share, abort.signal, onProgress)) };
  } catch (err) {
    reply = { error: (err as Error).message, connect: isConnectFailure(err) };
  }
  process.send!(reply, () => process.exit(0));
}
