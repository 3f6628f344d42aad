// A whole node on a small tmpfs of its own (test/fixtures/node-on-tiny-disk.ts), mounted in a new
// mount namespace by util-linux's `unshare` (no root needed), driven over stdin: `ask('fill')`
// takes the rest of the disk, `ask('free')` gives it back.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { TestContext } from 'node:test';
import { spawnFixture } from './child.js';
import { tempDir } from './temp-dir.js';
import { waitFor } from './wait-for.js';

export interface TinyDiskNode {
  child: ChildProcessWithoutNullStreams;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  /** The node's MQTT port. */
  port: number;
  /** Sends a command to the fixture and resolves with its one-line JSON reply. */
  ask(command: string): Promise<Record<string, unknown>>;
}

/** Starts the node on a tmpfs of `sizeMb`, with the config file `configFile` if given (it must live off that disk). */
export async function startNodeOnTinyDisk(t: TestContext, sizeMb: number, configFile?: string): Promise<TinyDiskNode> {
  const dir = tempDir(t);
  const replies: Array<Record<string, unknown>> = [];
  const script = `mount -t tmpfs -o size=${sizeMb}m tributary-test "$1" && shift && exec "$@"`;
  const args = configFile === undefined ? [dir] : [dir, configFile];
  const { child, exited } = spawnFixture('node-on-tiny-disk.js', args, (line) => replies.push(JSON.parse(line) as Record<string, unknown>), {
    file: 'unshare',
    prefix: ['--user', '--map-root-user', '--mount', 'sh', '-c', script, 'sh', dir, process.execPath],
  });
  t.after(() => child.kill('SIGKILL'));
  const ask = async (command: string): Promise<Record<string, unknown>> => {
    const before = replies.length;
    child.stdin.write(`${command}\n`);
    await waitFor(() => replies.length > before, `a reply to '${command}'`);
    return replies[before]!;
  };
  await waitFor(() => replies.length > 0, 'the node to start');
  return { child, exited, port: replies[0]!.port as number, ask };
}
