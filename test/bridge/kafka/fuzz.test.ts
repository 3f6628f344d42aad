// Bounded fuzzing of the Kafka endpoint's frame and request decoding over real sockets
// (test/helpers/fuzz-kafka.ts): well-formed requests of every served API and version, mangled
// ones, other keys and versions, noise. Each case runs on its own connection, followed by an
// ApiVersions probe. Checked: every answer carries the correlation id of the request it answers,
// in order; nothing is stored (a Produce's random record bytes never pass a batch's checks);
// nothing fails in a way the server did not expect (no error-level log line); and afterwards a fresh client is served and no connection is
// left behind. A failure prints its seed; FUZZ_SEED=<seed> replays it, FUZZ_CASES sets the length.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { KafkaServer } from '../../../bridge/kafka/server.js';
import { Reader } from '../../../bridge/kafka/protocol/reader.js';
import { createLogger } from '../../../bridge/logger.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { FuzzFinding, fuzzCases, fuzzSeed, Rng } from '../../helpers/fuzz.js';
import { fuzzFrame } from '../../helpers/fuzz-kafka.js';
import { RawKafka } from '../../helpers/raw-kafka.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';

/** The correlation id of every fuzzed request (the probe after it gets another). */
const FUZZED = 7;

test('Kafka fuzz: answers match their requests, nothing is stored, nothing fails unexpectedly, and the server keeps serving', async (t) => {
  const seed = fuzzSeed();
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const log = await Log.open({ dataDir: tempDir(t), durability: 'write', topics: [{ name: 'mqtt', partitions: 2 }] });
  onCleanup(t, () => log.close());
  await log.append('mqtt', 0, [{ timestamp: Date.now(), key: Buffer.from('k'), value: Buffer.from('v') }]);
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const server = await KafkaServer.start({ host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 4096, maxConnections: 1000, clusterId: 'fuzz', log, logger });
  onCleanup(t, () => server.close());

  const tally: Record<string, number> = { answered: 0, closed: 0, parked: 0 };
  const cases = fuzzCases(300);
  for (let i = 0; i < cases; i++) {
    const rng = Rng.forCase(seed, i);
    const { bytes, kind } = fuzzFrame(rng, FUZZED);
    const fail = (problem: string): never => {
      throw new FuzzFinding('kafka', seed, i, `${kind}: ${problem}`, bytes.toString('hex'));
    };
    const kafka = await RawKafka.open(t, server.port);
    await waitFor(() => server.stats.connections === 1, 'the server has the connection');
    kafka.sendRaw(bytes);
    const probe = kafka.send(18, 0, Buffer.alloc(0));
    const answers: number[] = [];
    let probed = false;
    void (async () => {
      for (let frame = await kafka.response(); frame !== null && !probed; frame = await kafka.response()) {
        const id = frame.length >= 4 ? new Reader(frame).int32() : NaN;
        answers.push(id);
        probed = id === probe;
      }
    })();
    let outcome: 'answered' | 'closed' | 'parked' | null = null;
    await waitFor(() => {
      if (probed) outcome = 'answered';
      else if (kafka.isClosed) outcome = 'closed';
      else if (server.stats.answering === 1 && answers.length === 0) outcome = 'parked';
      return outcome !== null;
    }, `case ${i} (FUZZ_SEED=${seed}) to end`);
    // Before the probe's answer: at most the fuzzed request's, with its correlation id (noise has its own).
    const before = probed ? answers.slice(0, -1) : answers;
    if (before.length > 1) fail(`${before.length} answers to one request`);
    if (kind !== 'noise' && before.some((id) => id !== FUZZED)) fail(`an answer with correlation id ${before.join(', ')}`);
    tally[outcome!]! += 1;
    tally[kind] = (tally[kind] ?? 0) + 1;
    await kafka.close();
    await waitFor(() => server.stats.connections === 0, 'the case connection gone');
  }
  t.diagnostic(JSON.stringify(tally));

  const errors = lines.filter((l) => (l.level as number) >= 50);
  assert.deepEqual(errors, [], 'no error-level log line (an unexpected failure)');
  assert.equal(log.partition('mqtt', 0).logEndOffset, 1, 'nothing stored');
  assert.equal(log.partition('mqtt', 1).logEndOffset, 0, 'nothing stored');
  const after = await RawKafka.open(t, server.port);
  after.send(18, 0, Buffer.alloc(0));
  const r = new Reader((await after.response())!);
  r.int32();
  assert.equal(r.int16(), 0, 'a fresh client is served');
  if (process.env.FUZZ_CASES === undefined) assert.ok(tally.answered! > 0 && tally.closed! > 0, 'the generator reaches both answers and refusals');
});
