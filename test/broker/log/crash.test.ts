// SIGKILL a writer process mid-stream, many times over the same data directory, then check that
// every append it acknowledged is there, offsets are dense and no batch is torn.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { spawnFixture } from '../../helpers/child.js';
import { tempDir } from '../../helpers/temp-dir.js';

interface Ack {
  partition: number;
  baseOffset: number;
  lastOffset: number;
  tag: string;
}

async function runAndKill(dataDir: string, run: number, killAfterAcks: number, acks: Ack[]): Promise<string> {
  let seen = 0;
  let readyLine = '';
  let killed = false;
  const { child, exited } = spawnFixture('log-writer.js', [dataDir, `run${run}`], (line) => {
    if (line.startsWith('ready ')) readyLine = line;
    if (!line.startsWith('acked ')) return;
    const [, partition, base, last, tag] = line.split(' ');
    acks.push({ partition: Number(partition), baseOffset: Number(base), lastOffset: Number(last), tag: tag! });
    if (++seen >= killAfterAcks && !killed) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  const result = await exited;
  assert.equal(result.signal, 'SIGKILL', `writer ended on its own: ${result.stderr}`);
  return readyLine;
}

test('every acknowledged append survives repeated SIGKILLs; offsets stay dense, nothing torn', async (t) => {
  const dataDir = tempDir(t);
  const acks: Ack[] = [];
  const runs = 10;
  for (let run = 0; run < runs; run++) {
    const ready = await runAndKill(dataDir, run, 20 + ((run * 37) % 150), acks);
    if (run > 0) assert.match(ready, /"batchesChecked":\d+/, 'a restart after SIGKILL runs recovery');
  }
  assert.ok(acks.length >= runs * 20);

  const log = await Log.open({ dataDir });
  t.after(() => log.close());
  for (const partition of [0, 1]) {
    const p = log.partition('crash', partition);
    const all = log.read('crash', partition, 0, { maxRecords: 1_000_000, maxBytes: 1e9 }).records;
    assert.equal(all.length, p.logEndOffset, 'every offset below the log end is readable');
    all.forEach((r, i) => assert.equal(r.offset, i, 'offsets are dense from 0'));
    for (const ack of acks.filter((a) => a.partition === partition)) {
      for (let offset = ack.baseOffset; offset <= ack.lastOffset; offset++) {
        const value = all[offset]?.value?.toString() ?? '';
        assert.ok(value.startsWith(`${ack.tag}:`), `offset ${offset} of ${ack.tag} holds '${value.slice(0, 30)}'`);
      }
      const expected = ack.lastOffset - ack.baseOffset + 1;
      const inBatch = all.slice(ack.baseOffset, ack.lastOffset + 1).map((r) => Number(r.value!.toString().split(':')[2]));
      assert.deepEqual(inBatch, Array.from({ length: expected }, (_, i) => i), `batch ${ack.tag} is whole and in order`);
    }
  }
});
