// `tributary replay` and `tributary readers` as a user runs them: real processes on real stored
// data, over HTTP from a running node and from a stopped node's data directory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { CLI, runCli, startCliNode } from '../../helpers/cli.js';
import { payload, seed } from '../../helpers/replay-data.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { flipByteNear } from '../../helpers/damaged-page.js';

async function seededDataDir(t: Parameters<typeof tempDir>[0], partitions: number, perPartition: number): Promise<{ dataDir: string; t0: number }> {
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, durability: 'write' });
  const t0 = await seed(log, 'telemetry', partitions, perPartition, { batch: 1000 });
  await log.close();
  return { dataDir, t0 };
}

function parseLines(stdout: string): Array<{ partition: number; offset: number; key: string; value: unknown; valueEncoding: string }> {
  return stdout === '' ? [] : stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
}

test('over HTTP and from the data directory: the same records, in every format, nothing extra on a pipe', async (t) => {
  const { dataDir } = await seededDataDir(t, 2, 3000);
  const node = await startCliNode(t, dataDir);
  const viaHttp = {
    ndjson: runCli(['replay', '--url', node.url, '--topic', 'telemetry']),
    csv: runCli(['replay', '--url', node.url, '--topic', 'telemetry', '--format', 'csv']),
    raw: runCli(['replay', '--url', node.url, '--topic', 'telemetry', '--format', 'raw', '--partition', '1']),
    base64: runCli(['replay', '--url', node.url, '--topic', 'telemetry', '--base64', '--partition', '0', '--from-offset', '100', '--to-offset', '200']),
  };
  const file = join(tempDir(t), 'out.ndjson');
  const toFile = runCli(['replay', '--url', node.url, '--topic', 'telemetry', '--key', 'sensor-1', '--out', file]);
  await node.stop();
  const viaDir = {
    ndjson: runCli(['replay', '--data-dir', dataDir, '--topic', 'telemetry']),
    csv: runCli(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--format', 'csv']),
    raw: runCli(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--format', 'raw', '--partition', '1']),
    base64: runCli(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--base64', '--partition', '0', '--from-offset', '100', '--to-offset', '200']),
  };
  for (const [format, r] of Object.entries(viaHttp)) {
    assert.equal(r.status, 0, `${format}: ${r.stderr}`);
    assert.equal(r.stderr, '', `${format}: nothing on stderr when it is not a terminal`);
    assert.equal(r.stdout, viaDir[format as keyof typeof viaDir].stdout, `${format}: HTTP and data dir agree`);
  }
  const lines = parseLines(viaHttp.ndjson.stdout);
  assert.equal(lines.length, 6000);
  assert.deepEqual(lines.filter((l) => l.partition === 1).map((l) => l.offset), Array.from({ length: 3000 }, (_, i) => i));
  assert.deepEqual(
    lines.slice(0, 6).map((l) => [l.partition, l.offset, l.valueEncoding]),
    [[0, 0, 'json'], [1, 0, 'json'], [0, 1, 'string'], [1, 1, 'string'], [0, 2, 'base64'], [1, 2, 'base64']],
  );
  assert.equal(viaHttp.csv.stdout.split('\r\n').length, 6002);
  const b64 = parseLines(viaHttp.base64.stdout);
  assert.deepEqual(b64.map((l) => l.offset), Array.from({ length: 100 }, (_, i) => 100 + i));
  assert.ok(b64.every((l) => Buffer.from(l.value as string, 'base64').equals(payload(0, l.offset))));
  assert.equal(toFile.status, 0, toFile.stderr);
  assert.equal(toFile.stdout, '');
  const keyed = parseLines(readFileSync(file, 'utf8'));
  assert.equal(keyed.length, 1200);
  assert.ok(keyed.every((l) => l.key === 'sensor-1'));
});

test('bad input: one line on stderr naming the problem and the valid range, non-zero exit', async (t) => {
  const { dataDir } = await seededDataDir(t, 2, 100);
  const node = await startCliNode(t, dataDir);
  const cases: Array<[string[], number, RegExp]> = [
    [['--topic', 'nope'], 1, /^tributary: unknown topic 'nope' \(topics: mqtt, telemetry\) \[TRIB_UNKNOWN_TOPIC\]\n$/],
    [['--topic', 'telemetry', '--partition', '0', '--from-offset', '500'], 1, /^tributary: offset 500 is out of range for telemetry-0: valid offsets are 0\.\.100 \(log start \.\. log end\) \[TRIB_OFFSET_OUT_OF_RANGE\]\n$/],
    [['--topic', 'telemetry', '--partition', '9'], 1, /^tributary: topic 'telemetry' has no partition 9 \(valid: 0\.\.1\) \[TRIB_UNKNOWN_PARTITION\]\n$/],
    [['--topic', 'telemetry', '--from-time', 'last tuesday'], 2, /^tributary: --from-time: 'last tuesday' is not a time; use ISO 8601 .* \[TRIB_USAGE\]\n$/],
    [['--topic', 'telemetry', '--to-time', '-1x'], 2, /^tributary: --to-time: '-1x' is not a time/],
    [['--topic', 'telemetry', '--from-offset', '1', '--from-time', '-1h', '--partition', '0'], 2, /give --from-offset or --from-time, not both/],
    [['--topic', 'telemetry', '--partition', 'x'], 2, /--partition must be a non-negative integer, got 'x'/],
    [['--topic', 'telemetry', '--format', 'xml'], 2, /--format must be one of ndjson, csv, raw, got 'xml'/],
    [['--topic', 'telemetry', '--rate', '10'], 2, /--qos, --rate and --speed only apply with --to-mqtt/],
    [['--topic', 'telemetry', '--to-mqtt', 'http://x'], 2, /'http:' is not an MQTT URL scheme/],
    [['--topic', 'telemetry', '--to-mqtt', 'mqtt://127.0.0.1:1/x', '--speed', 'fast'], 2, /--speed must be like 1x, 10x, 0\.5x or max/],
    [['--topic', 'telemetry', '--reader', 'no/slash'], 2, /reader name 'no\/slash' must be/],
    [['--frobnicate'], 2, /^tributary: Unknown option '--frobnicate' \(see tributary replay --help\) \[TRIB_USAGE\]\n$/],
    [[], 2, /--topic is required/],
  ];
  for (const [args, status, stderr] of cases) {
    const r = runCli(['replay', '--url', node.url, ...args]);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const down = runCli(['replay', '--url', 'http://127.0.0.1:1', '--topic', 'telemetry']);
  assert.equal(down.status, 2);
  assert.match(down.stderr, /^tributary: cannot reach a Tributary node at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\); is it running\? For a stopped node use --data-dir \[TRIB_USAGE\]\n$/);
  const locked = runCli(['replay', '--data-dir', dataDir, '--topic', 'telemetry']);
  assert.equal(locked.status, 1);
  assert.match(locked.stderr, /TRIB_DATA_DIR_LOCKED/);
  await node.stop();
  const nothing = runCli(['replay', '--data-dir', join(dataDir, 'nope'), '--topic', 'telemetry']);
  assert.equal(nothing.status, 2);
  assert.match(nothing.stderr, /--data-dir: no Tributary log in .*nope \(no log\.db\)/);
  const offline = runCli(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--partition', '1', '--to-offset', '101']);
  assert.match(offline.stderr, /offset 101 is out of range for telemetry-1: valid offsets are 0\.\.100/);
});

test('a named reader resumes where it stopped, over HTTP and from the data directory; readers shows its lag', async (t) => {
  const { dataDir, t0 } = await seededDataDir(t, 2, 1000);
  const node = await startCliNode(t, dataDir);
  const first = runCli(['replay', '--url', node.url, '--topic', 'telemetry', '--reader', 'nightly', '--to-time', new Date(t0 + 5000).toISOString()]);
  assert.equal(first.status, 0, first.stderr);
  assert.equal(parseLines(first.stdout).length, 1000, 'offsets 0..499 of both partitions');
  const listed = runCli(['readers', '--url', node.url]);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /^READER\s+TOPIC\s+PARTITION\s+NEXT\s+END\s+LAG\s+UPDATED\nnightly\s+telemetry\s+0\s+500\s+1000\s+500\s+\S+\nnightly\s+telemetry\s+1\s+500\s+1000\s+500\s+\S+\n$/);
  // With --from-time given again, the stored position still wins.
  const second = runCli(['replay', '--url', node.url, '--topic', 'telemetry', '--reader', 'nightly', '--from-time', '-1w', '--partition', '0']);
  assert.deepEqual(parseLines(second.stdout).map((l) => l.offset), Array.from({ length: 500 }, (_, i) => 500 + i));
  // A key filter still moves the position to the end of the range it covered.
  const keyed = runCli(['replay', '--url', node.url, '--topic', 'telemetry', '--reader', 'nightly', '--partition', '1', '--key', 'sensor-0', '--to-offset', '700']);
  assert.deepEqual(parseLines(keyed.stdout).map((l) => l.offset), [500, 505, 510, 515, 520, 525].concat(Array.from({ length: 34 }, (_, i) => 530 + i * 5)));
  await node.stop();
  const json = JSON.parse(runCli(['readers', '--data-dir', dataDir, '--json']).stdout) as { readers: Array<{ partition: number; nextOffset: number; lag: number }> };
  assert.deepEqual(json.readers.map((r) => [r.partition, r.nextOffset, r.lag]), [[0, 1000, 0], [1, 700, 300]]);
  const offline = runCli(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--reader', 'nightly', '--partition', '1']);
  assert.deepEqual(parseLines(offline.stdout).map((l) => l.offset), Array.from({ length: 300 }, (_, i) => 700 + i));
  assert.equal(parseLines(runCli(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--reader', 'nightly']).stdout).length, 0, 'nothing new');
  const deleted = runCli(['readers', '--data-dir', dataDir, '--delete', 'nightly']);
  assert.match(deleted.stderr, /deleted reader 'nightly' \(2 positions\)/);
  assert.equal(parseLines(runCli(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--reader', 'nightly']).stdout).length, 2000);
});

// script(1) gives the CLI a real pseudo-terminal (util-linux; .ci/run installs it where missing).
test('on a terminal the progress bar shows rate and ETA on stderr', async (t) => {
  const { dataDir } = await seededDataDir(t, 1, 20_000);
  const out = join(tempDir(t), 'out.ndjson');
  const r = spawnSync('script', ['-qec', `${process.execPath} ${CLI} replay --data-dir ${dataDir} --topic telemetry --out ${out}`, '/dev/null'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout);
  assert.match(r.stdout, /\[[#.]+\] +\d+% [\d.k]+\/20\.0k records +[\d.kM]+\/s +ETA (\d+s|--)/, 'the bar with its rate and ETA');
  assert.match(r.stdout, /replayed 20\.0k records in \d+\.\d s/);
  assert.equal(readFileSync(out, 'utf8').split('\n').length, 20_001);
});

test('--reader with --out FILE finishes on small ranges, over HTTP and from the data directory', async (t) => {
  const { dataDir } = await seededDataDir(t, 1, 100);
  const out = join(tempDir(t), 'out.ndjson');
  const node = await startCliNode(t, dataDir);
  // Ranges whose output is far below a stream's 16 KiB buffer: the final flush must not wait for
  // a 'drain' that never comes.
  for (const [i, to] of [[0, 1], [1, 5], [2, 50]] as const) {
    const r = runCli(['replay', '--url', node.url, '--topic', 'telemetry', '--reader', `http-${i}`, '--to-offset', String(to), '--partition', '0', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(parseLines(readFileSync(out, 'utf8')).length, to);
  }
  const listed = runCli(['readers', '--url', node.url, '--json']);
  assert.deepEqual((JSON.parse(listed.stdout) as { readers: Array<{ nextOffset: number }> }).readers.map((r) => r.nextOffset), [1, 5, 50]);
  await node.stop();
  for (const [i, to] of [[0, 1], [1, 5], [2, 50]] as const) {
    const r = runCli(['replay', '--data-dir', dataDir, '--topic', 'telemetry', '--reader', `dir-${i}`, '--to-offset', String(to), '--partition', '0', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(parseLines(readFileSync(out, 'utf8')).length, to);
  }
  const offline = runCli(['readers', '--data-dir', dataDir, '--json']);
  assert.deepEqual((JSON.parse(offline.stdout) as { readers: Array<{ reader: string; nextOffset: number }> }).readers.map((r) => [r.reader, r.nextOffset]), [
    ['dir-0', 1], ['dir-1', 5], ['dir-2', 50], ['http-0', 1], ['http-1', 5], ['http-2', 50],
  ]);
});

/** Stored data with one flipped byte in the batch of partition 0 holding offsets 1400..1499. */
async function corruptDataDir(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const dataDir = join(tempDir(t), 'data');
  const log = await Log.open({ dataDir, durability: 'write' });
  await seed(log, 'telemetry', 1, 3000, { batch: 100 });
  await log.close();
  flipByteNear(join(dataDir, 'log.db'), 'reading 0/1450');
  return dataDir;
}

const CORRUPT_MESSAGE = /^tributary: corrupt record batch in telemetry-0 at offset 1400: CRC-32C mismatch.*; offsets 1400\.\.1499 cannot be read \[TRIB_LOG_CORRUPT_BATCH\]$/m;
const SKIP_MESSAGE = /^tributary: skipped corrupt batch telemetry-0 offsets 1400\.\.1499: .*\[TRIB_LOG_CORRUPT_BATCH\]$/m;
const offsetsOf = (stdout: string): number[] => parseLines(stdout).map((l) => l.offset);
const csvOffsets = (stdout: string): number[] => stdout.trimEnd().split('\r\n').slice(1).map((row) => Number(row.split(',')[2]));
const all = Array.from({ length: 3000 }, (_, i) => i);

test('a corrupt batch: every record before it, then the error with topic, partition and offsets, exit 1; --skip-corrupt passes over it and says so', async (t) => {
  const dataDir = await corruptDataDir(t);
  const node = await startCliNode(t, dataDir);
  const sources = { http: ['--url', node.url], dir: ['--data-dir', dataDir] } as const;
  const runs = (source: readonly string[]) => ({
    ndjson: runCli(['replay', ...source, '--topic', 'telemetry']),
    csv: runCli(['replay', ...source, '--topic', 'telemetry', '--format', 'csv']),
    inside: runCli(['replay', ...source, '--topic', 'telemetry', '--from-offset', '1450']),
    skip: runCli(['replay', ...source, '--topic', 'telemetry', '--skip-corrupt']),
    skipCsv: runCli(['replay', ...source, '--topic', 'telemetry', '--format', 'csv', '--skip-corrupt']),
  });
  const viaHttp = runs(sources.http);
  await node.stop();
  const viaDir = runs(sources.dir);
  for (const [name, r] of [['http', viaHttp], ['dir', viaDir]] as const) {
    assert.equal(r.ndjson.status, 1, `${name}: ${r.ndjson.stderr}`);
    assert.deepEqual(offsetsOf(r.ndjson.stdout), all.slice(0, 1400), `${name}: every record before the bad batch, nothing else`);
    assert.match(r.ndjson.stderr, CORRUPT_MESSAGE, name);
    assert.equal(r.csv.status, 1, name);
    assert.deepEqual(csvOffsets(r.csv.stdout), all.slice(0, 1400), name);
    assert.match(r.csv.stderr, CORRUPT_MESSAGE, name);
    assert.equal(r.inside.status, 1, name);
    assert.equal(r.inside.stdout, '', name);
    assert.match(r.inside.stderr, CORRUPT_MESSAGE, name);
    const kept = all.filter((i) => i < 1400 || i >= 1500);
    assert.equal(r.skip.status, 0, `${name}: ${r.skip.stderr}`);
    assert.deepEqual(offsetsOf(r.skip.stdout), kept, name);
    assert.match(r.skip.stderr, SKIP_MESSAGE, name);
    assert.match(r.skip.stderr, /skipped 1 corrupt batch\(es\), 100 offsets not replayed/, name);
    assert.equal(r.skipCsv.status, 0, name);
    assert.deepEqual(csvOffsets(r.skipCsv.stdout), kept, name);
    assert.match(r.skipCsv.stderr, SKIP_MESSAGE, name);
  }
});
