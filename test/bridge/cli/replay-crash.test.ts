// A named reader's at-least-once promise, as a user would break it: the replay process is
// SIGKILLed mid-stream while its consumer reads slowly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { CLI, runCli, startCliNode } from '../../helpers/cli.js';
import { seed } from '../../helpers/replay-data.js';
import { tempDir } from '../../helpers/temp-dir.js';

async function seededDataDir(t: Parameters<typeof tempDir>[0], partitions: number, perPartition: number): Promise<{ dataDir: string }> {
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, durability: 'write' });
  await seed(log, 'telemetry', partitions, perPartition, { batch: 1000 });
  await log.close();
  return { dataDir };
}

function offsets(stdout: string): number[] {
  return stdout === '' ? [] : stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { offset: number }).offset);
}

test('a reader killed mid-stream loses nothing: the next run starts at or before the first record it did not deliver', async (t) => {
  const { dataDir } = await seededDataDir(t, 1, 150_000);
  const node = await startCliNode(t, dataDir);
  const child = spawn(process.execPath, [CLI, 'replay', '--url', node.url, '--topic', 'telemetry', '--reader', 'crashy'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  // A consumer that reads slowly: the pipe fills, the replay waits on it and commits meanwhile.
  const chunks: Buffer[] = [];
  child.stdout.pause();
  const committed = async (): Promise<number | null> => {
    const r = (await (await fetch(`${node.url}/api/readers`)).json()) as { readers: Array<{ nextOffset: number }> };
    return r.readers[0]?.nextOffset ?? null;
  };
  for (let i = 0; i < 1200 && (await committed()) === null; i++) {
    const piece = child.stdout.read() as Buffer | null;
    if (piece !== null) chunks.push(piece);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  child.stdout.resume();
  await new Promise((resolve) => child.on('close', resolve));
  const position = await committed();
  assert.ok(position !== null && position > 0 && position < 150_000, `committed ${position}`);
  // Everything before the committed position came out of the first run...
  const text = Buffer.concat(chunks).toString();
  const firstRun = offsets(text.slice(0, text.lastIndexOf('\n') + 1));
  assert.ok(firstRun.length >= position!, `first run delivered ${firstRun.length}, committed ${position}`);
  assert.deepEqual(firstRun.slice(0, position!), Array.from({ length: position! }, (_, i) => i));
  // ...and the next run starts exactly there.
  const resumed = runCli(['replay', '--url', node.url, '--topic', 'telemetry', '--reader', 'crashy']);
  assert.equal(resumed.status, 0, resumed.stderr);
  const resumedOffsets = offsets(resumed.stdout);
  assert.equal(resumedOffsets[0], position);
  assert.equal(resumedOffsets.at(-1), 149_999);
  assert.equal(resumedOffsets.length, 150_000 - position!);
});
