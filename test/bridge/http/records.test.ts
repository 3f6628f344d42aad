// The records API against a whole node in this process: real HTTP, real stored data, and a raw
// TCP client to play the slow reader and the one that hangs up.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { Log } from '../../../broker/log/log.js';
import { runCliAsync } from '../../helpers/cli.js';
import { startTestNode, type TestNode } from '../../helpers/mqtt-node.js';
import { payload, seed } from '../../helpers/replay-data.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';
import { flipByteNear } from '../../helpers/damaged-page.js';

async function node(t: Parameters<typeof startTestNode>[0]): Promise<{ n: TestNode; base: string }> {
  const n = await startTestNode(t);
  return { n, base: `http://127.0.0.1:${n.node.http.port}` };
}

async function ndjson(url: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(url);
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('content-type') ?? '', /^application\/x-ndjson/);
  const text = await res.text();
  return text === '' ? [] : text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function errorOf(url: string, init?: RequestInit): Promise<{ status: number; code: string; message: string }> {
  const res = await fetch(url, init);
  const body = (await res.json()) as { code: string; message: string };
  return { status: res.status, code: body.code, message: body.message };
}

test('topic details, and records with every filter', async (t) => {
  const { n, base } = await node(t);
  const t0 = await seed(n.node.log, 'telemetry', 2, 1000);

  const details = (await (await fetch(`${base}/api/topics/telemetry`)).json()) as { name: string; partitions: Array<{ partition: number; logStartOffset: number; logEndOffset: number; bytes: number }> };
  assert.equal(details.name, 'telemetry');
  assert.deepEqual(details.partitions.map((p) => [p.partition, p.logStartOffset, p.logEndOffset]), [[0, 0, 1000], [1, 0, 1000]]);
  assert.ok(details.partitions.every((p) => p.bytes > 1000 * 20));

  const all = await ndjson(`${base}/api/topics/telemetry/records`);
  assert.equal(all.length, 2000);
  // Both partitions, merged by timestamp; offsets in order within each.
  for (let i = 1; i < all.length; i++) assert.ok((all[i]!.timestamp as number) >= (all[i - 1]!.timestamp as number));
  for (const p of [0, 1]) assert.deepEqual(all.filter((l) => l.partition === p).map((l) => l.offset), Array.from({ length: 1000 }, (_, i) => i));
  const third = all.find((l) => l.partition === 1 && l.offset === 3)!;
  assert.deepEqual(third, { topic: 'telemetry', partition: 1, offset: 3, timestamp: t0 + 30, key: 'sensor-3', value: JSON.parse(payload(1, 3).toString()), valueEncoding: 'json', headers: [['mqtt.topic', 'site/1/sensor-3']] });

  const slice = await ndjson(`${base}/api/topics/telemetry/records?partition=1&from-offset=10&to-offset=20`);
  assert.deepEqual(slice.map((l) => [l.partition, l.offset]), Array.from({ length: 10 }, (_, i) => [1, 10 + i]));

  const timed = await ndjson(`${base}/api/topics/telemetry/records?partition=0&from-time=${t0 + 100}ms&to-time=${new Date(t0 + 200).toISOString()}`);
  assert.deepEqual(timed.map((l) => l.offset), Array.from({ length: 10 }, (_, i) => 10 + i));

  const keyed = await ndjson(`${base}/api/topics/telemetry/records?partition=0&key=sensor-2`);
  assert.equal(keyed.length, 200);
  assert.ok(keyed.every((l) => l.key === 'sensor-2'));

  const binary = await ndjson(`${base}/api/topics/telemetry/records?partition=0&from-offset=2&to-offset=3&base64=true`);
  assert.deepEqual([binary[0]!.value, binary[0]!.valueEncoding], [payload(0, 2).toString('base64'), 'base64']);

  const csv = await fetch(`${base}/api/topics/telemetry/records?partition=0&to-offset=3&format=csv`);
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  assert.equal((await csv.text()).split('\r\n').length, 5, 'header, three rows, trailing empty');
});

test('bad requests are 4xx with a JSON body naming the code and the valid range', async (t) => {
  const { n, base } = await node(t);
  await seed(n.node.log, 'telemetry', 2, 100);
  const records = `${base}/api/topics/telemetry/records`;
  assert.deepEqual(await errorOf(`${base}/api/topics/nope`), { status: 404, code: 'TRIB_UNKNOWN_TOPIC', message: "unknown topic 'nope' (topics: mqtt, telemetry)" });
  assert.equal((await errorOf(`${base}/api/topics/nope/records`)).code, 'TRIB_UNKNOWN_TOPIC');
  assert.deepEqual(await errorOf(`${records}?partition=5`), { status: 404, code: 'TRIB_UNKNOWN_PARTITION', message: "topic 'telemetry' has no partition 5 (valid: 0..1)" });
  const above = await errorOf(`${records}?partition=0&from-offset=101`);
  assert.deepEqual([above.status, above.code], [400, 'TRIB_OFFSET_OUT_OF_RANGE']);
  assert.match(above.message, /valid offsets are 0\.\.100/);
  assert.match((await errorOf(`${records}?partition=1&to-offset=500`)).message, /offset 500 is out of range for telemetry-1: valid offsets are 0\.\.100/);
  await n.node.log.enforceRetention(Date.now() + 365 * 86_400_000); // everything is now older than the default retention
  await n.node.log.append('telemetry', 0, [{ timestamp: Date.now(), key: null, value: Buffer.from('new') }]);
  assert.match((await errorOf(`${records}?partition=0&from-offset=3`)).message, /offset 3 is out of range for telemetry-0: valid offsets are 100\.\.101/);
  const badTime = await errorOf(`${records}?from-time=yesterday`);
  assert.deepEqual([badTime.status, badTime.code], [400, 'TRIB_USAGE']);
  assert.match(badTime.message, /from-time: 'yesterday' is not a time; use ISO 8601/);
  assert.equal((await errorOf(`${records}?from-offset=3`)).message, "topic 'telemetry' has 2 partitions: an offset bound needs a partition (--partition / partition=)");
  assert.equal((await errorOf(`${records}?from-time=-1h&to-time=-2h`)).message, 'the from time is after the to time');
  assert.match((await errorOf(`${records}?limit=3`)).message, /unknown parameter 'limit'/);
  assert.match((await errorOf(`${records}?format=xml`)).message, /format must be one of ndjson, csv, raw/);
  assert.equal((await errorOf(`${records}`, { method: 'POST' })).status, 405);
  assert.deepEqual((({ status, code }) => [status, code])(await errorOf(`${base}/api/topics/telemetry/foo`)), [404, 'TRIB_HTTP_NOT_FOUND']);
  assert.deepEqual((({ status, code }) => [status, code])(await errorOf(`${base}/api/readers/x/y`)), [404, 'TRIB_HTTP_NOT_FOUND']);
  const badEscape = await errorOf(`${base}/api/topics/%E0%A4%A`);
  assert.deepEqual([badEscape.status, badEscape.code], [400, 'TRIB_USAGE']);
  assert.match(badEscape.message, /bad percent-encoding/);
  assert.match((await errorOf(`${records}?from-time=1700000000`)).message, /has no unit; write 1700000000s for epoch seconds/);
  assert.match((await errorOf(`${records}?from-time=2026-02-30`)).message, /'2026-02-30' is not a time/);
});

test('a slow reader holds the read back; a client that hangs up stops it', async (t) => {
  const { n, base } = await node(t);
  const total = 200_000;
  await seed(n.node.log, 'telemetry', 1, total, { batch: 1000 });
  const stats = n.node.http.records.stats;
  const socket = tcpConnect(n.node.http.port, '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  // Read the status line, then stop reading altogether.
  socket.write(`GET /api/topics/telemetry/records HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  await new Promise((resolve) => socket.once('data', resolve));
  socket.pause();
  let before = -1;
  let unchanged = 0;
  // Steady once the socket buffers are full: the read waits for 'drain'. Unchanged over ten polls,
  // not two: on a loaded machine one 'drain' can come more than a poll's 10 ms after the last write.
  await waitFor(() => {
    unchanged = stats.recordsRead === before && stats.recordsRead > 0 ? unchanged + 1 : 0;
    before = stats.recordsRead;
    return unchanged >= 10;
  }, 'the stream to stop reading');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(stats.recordsRead, before, 'nothing more is read while the client does not read');
  assert.ok(stats.recordsRead < total / 2, `read ${stats.recordsRead} of ${total} records for a client that reads nothing`);
  assert.equal(stats.active, 1);

  socket.destroy();
  await waitFor(() => stats.active === 0, 'the stream to end after the client left');
  const readAtEnd = stats.recordsRead;
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(stats.recordsRead, readAtEnd);
  assert.ok(readAtEnd < total);

  // The node still serves, and a full read is complete.
  const res = await fetch(`${base}/api/topics/telemetry/records?format=raw`);
  const body = Buffer.from(await res.arrayBuffer());
  let lines = 0;
  for (let i = body.indexOf(0x0a); i !== -1; i = body.indexOf(0x0a, i + 1)) lines++;
  assert.ok(lines >= total, 'every record (binary payloads may hold newlines of their own)');
});

test('a client that reads part of a stream and hangs up ends it', async (t) => {
  const { n, base } = await node(t);
  await seed(n.node.log, 'telemetry', 1, 100_000, { batch: 1000 });
  const stats = n.node.http.records.stats;
  const controller = new AbortController();
  const res = await fetch(`${base}/api/topics/telemetry/records`, { signal: controller.signal });
  const reader = res.body!.getReader();
  await reader.read();
  controller.abort();
  await waitFor(() => stats.active === 0, 'the stream to end');
  assert.ok(stats.recordsRead < 100_000);
});

test('named readers: the client commits positions, the node lists their lag, bad commits are refused', async (t) => {
  const { n, base } = await node(t);
  await seed(n.node.log, 'telemetry', 2, 100);
  const commit = (reader: string, body: unknown): Promise<Response> =>
    fetch(`${base}/api/readers/${reader}/positions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  // A stream with reader= moves nothing by itself.
  assert.equal((await ndjson(`${base}/api/topics/telemetry/records?reader=nightly`)).length, 200);
  assert.deepEqual(await (await fetch(`${base}/api/readers`)).json(), { readers: [] });

  assert.equal((await commit('nightly', { topic: 'telemetry', positions: [{ partition: 0, nextOffset: 40 }, { partition: 1, nextOffset: 100 }] })).status, 200);
  const next = await ndjson(`${base}/api/topics/telemetry/records?reader=nightly&partition=0`);
  assert.deepEqual([next.length, next[0]!.offset], [60, 40]);
  assert.equal((await ndjson(`${base}/api/topics/telemetry/records?reader=nightly&partition=1`)).length, 0);

  const listing = (await (await fetch(`${base}/api/readers`)).json()) as { readers: Array<{ reader: string; partition: number; nextOffset: number; lag: number }> };
  assert.deepEqual(listing.readers.map((r) => [r.reader, r.partition, r.nextOffset, r.lag]), [['nightly', 0, 40, 60], ['nightly', 1, 100, 0]]);

  const beyond = await commit('nightly', { topic: 'telemetry', positions: [{ partition: 0, nextOffset: 101 }] });
  assert.equal(beyond.status, 400);
  assert.match(((await beyond.json()) as { message: string }).message, /valid offsets are 0\.\.100/);
  assert.equal((await commit('bad name', { topic: 'telemetry', positions: [] })).status, 400);
  assert.equal((await commit('nightly', 'not positions')).status, 400);
  assert.equal((await errorOf(`${base}/api/readers/nightly/positions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' })).code, 'TRIB_USAGE');
  // Not JSON by content type (a cross-site text/plain POST needs no preflight): 415, nothing moves.
  for (const headers of [{}, { 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }] as Array<Record<string, string>>) {
    const plain = await errorOf(`${base}/api/readers/nightly/positions`, { method: 'POST', headers, body: JSON.stringify({ topic: 'telemetry', positions: [{ partition: 0, nextOffset: 0 }] }) });
    assert.deepEqual([plain.status, plain.code], [415, 'TRIB_HTTP_MEDIA_TYPE'], JSON.stringify(headers));
  }
  assert.equal((await commit('nightly', { topic: 'telemetry', positions: [{ partition: 0, nextOffset: 40 }] })).status, 200, 'application/json is taken');

  assert.deepEqual(await (await fetch(`${base}/api/readers/nightly`, { method: 'DELETE' })).json(), { reader: 'nightly', deleted: 2 });
  assert.equal((await ndjson(`${base}/api/topics/telemetry/records?reader=nightly&partition=0`)).length, 100);
});

test('with http.token set, the replay routes need it; the CLI sends --token or TRIBUTARY_HTTP_TOKEN', async (t) => {
  const token = 'replay-test-token-0123456789';
  const n = await startTestNode(t, { http: { token } });
  const base = `http://127.0.0.1:${n.node.http.port}`;
  await seed(n.node.log, 'telemetry', 1, 10);
  for (const path of ['/api/topics/telemetry', '/api/topics/telemetry/records', '/api/readers']) {
    const res = await fetch(`${base}${path}`);
    assert.equal(res.status, 401, path);
    assert.equal(((await res.json()) as { code: string }).code, 'TRIB_HTTP_UNAUTHORIZED');
  }
  assert.equal((await fetch(`${base}/api/readers/x/positions`, { method: 'POST', body: '{}' })).status, 401);
  const refused = await runCliAsync(['replay', '--url', base, '--topic', 'telemetry']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /^tributary: this path needs the bearer token .* \[TRIB_HTTP_UNAUTHORIZED\]\n$/);
  const withFlag = await runCliAsync(['replay', '--url', base, '--topic', 'telemetry', '--reader', 'tok', '--token', token]);
  assert.equal(withFlag.status, 0, withFlag.stderr);
  assert.equal(withFlag.stdout.trimEnd().split('\n').length, 10);
  const viaEnv = await runCliAsync(['readers', '--url', base], { TRIBUTARY_HTTP_TOKEN: token });
  assert.match(viaEnv.stdout, /tok\s+telemetry\s+0\s+10\s+10\s+0/);
  // topics too: without the token one line and exit 1 (also with --json), never a 401 body on stdout.
  for (const json of [[], ['--json']]) {
    const topics = await runCliAsync(['topics', '--url', base, ...json]);
    assert.equal(topics.status, 1, topics.stderr);
    assert.equal(topics.stdout, '');
    assert.match(topics.stderr, /^tributary: this path needs the bearer token .* \[TRIB_HTTP_UNAUTHORIZED\]\n$/);
  }
  const topics = await runCliAsync(['topics', '--url', base, '--token', token]);
  assert.equal(topics.status, 0, topics.stderr);
  assert.match(topics.stdout, /^TOPIC\s+PARTITION/);
  assert.match(topics.stdout, /\ntelemetry\s+0\s+0\s+10\s+10\s+\d+\n/);
});

test('a --data-dir that holds no log is refused by topics, replay and readers, and not created', async (t) => {
  const typo = join(tempDir(t), 'no-such-dir');
  for (const args of [['topics'], ['replay', '--topic', 'x'], ['readers']]) {
    const r = await runCliAsync([...args, '--data-dir', typo]);
    assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /^tributary: --data-dir: no Tributary log in .*no-such-dir \(no log\.db\) \[TRIB_USAGE\]\n$/, args[0]);
    assert.equal(existsSync(typo), false, `${args[0]} created nothing`);
  }
});

test('retention deleting the range under a stream cuts the connection: the client sees an incomplete body, never a short clean one', async (t) => {
  const { n, base } = await node(t);
  await seed(n.node.log, 'telemetry', 1, 100_000, { batch: 1000 });
  const stats = n.node.http.records.stats;
  const res = await fetch(`${base}/api/topics/telemetry/records`);
  const reader = res.body!.getReader();
  await reader.read(); // the stream is under way; the client now stops reading for a while
  let before = -1;
  await waitFor(() => {
    const steady = stats.recordsRead === before;
    before = stats.recordsRead;
    return steady;
  }, 'the stream to wait for the client');
  assert.ok(stats.recordsRead < 100_000);
  // Everything is older than the retention now; new records keep the partition alive.
  await n.node.log.append('telemetry', 0, [{ timestamp: Date.now(), key: null, value: Buffer.from('new') }]);
  await n.node.log.enforceRetention(Date.now() + 365 * 86_400_000);
  await assert.rejects(async () => {
    for (;;) {
      const { done } = await reader.read();
      if (done) return;
    }
  }, 'the body ends in an error, not a clean end');
  await waitFor(() => stats.active === 0, 'the stream to end');
});

/** A GET read to its end with node:http, for what fetch() hides: the HTTP trailers. */
function getWithTrailers(url: string): Promise<{ status: number; body: string; trailers: NodeJS.Dict<string> }> {
  return new Promise((resolve, reject) => {
    httpGet(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), trailers: res.trailers }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** A stopped node's data with one flipped byte in the batch holding offsets 1400..1499 of partition 0. */
async function corruptData(t: Parameters<typeof startTestNode>[0]): Promise<string> {
  const dataDir = tempDir(t);
  const log = await Log.open({ dataDir });
  await seed(log, 'telemetry', 2, 3000, { batch: 100 });
  await log.close();
  flipByteNear(join(dataDir, 'log.db'), 'reading 0/1450');
  return dataDir;
}

const corruptRange = { code: 'TRIB_LOG_CORRUPT_BATCH', topic: 'telemetry', partition: 0, fromOffset: 1400, toOffset: 1499 };

test('a corrupt batch mid-stream: every good record before it, then the error in-band and in the trailer; overview and metrics count it', async (t) => {
  const n = await startTestNode(t, {}, await corruptData(t));
  const base = `http://127.0.0.1:${n.node.http.port}`;

  // The NDJSON fast path (one partition): all 1,400 good records, then one error line.
  const fast = await getWithTrailers(`${base}/api/topics/telemetry/records?partition=0`);
  assert.equal(fast.status, 200);
  const lines = fast.body.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.slice(0, -1).map((l) => l.offset), Array.from({ length: 1400 }, (_, i) => i));
  const { error } = lines.at(-1) as { error: Record<string, unknown> };
  assert.deepEqual({ code: error.code, topic: error.topic, partition: error.partition, fromOffset: error.fromOffset, toOffset: error.toOffset }, corruptRange);
  assert.match(error.message as string, /telemetry-0 at offset 1400: CRC-32C mismatch/);
  assert.deepEqual(JSON.parse(fast.trailers['x-tributary-error']!).fromOffset, 1400);

  // CSV (records rebuilt, LogSource): the good rows, then the trailer says why it ended.
  const csv = await getWithTrailers(`${base}/api/topics/telemetry/records?partition=0&format=csv`);
  assert.equal(csv.status, 200);
  assert.equal(csv.body.trimEnd().split('\r\n').length, 1 + 1400);
  assert.equal(JSON.parse(csv.trailers['x-tributary-error']!).toOffset, 1499);

  // Both partitions merged by time: partition 1 is intact, partition 0 stops before the batch.
  const merged = await getWithTrailers(`${base}/api/topics/telemetry/records`);
  const mergedLines = merged.body.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(mergedLines.filter((l) => l.partition === 0).length === 1400);
  assert.equal((mergedLines.at(-1) as { error: { code: string } }).error.code, 'TRIB_LOG_CORRUPT_BATCH');

  // A read that starts inside the bad batch gets an error status and the JSON error.
  const inside = await getWithTrailers(`${base}/api/topics/telemetry/records?partition=0&from-offset=1450`);
  assert.equal(inside.status, 500);
  const body = JSON.parse(inside.body) as Record<string, unknown>;
  assert.deepEqual({ code: body.code, topic: body.topic, partition: body.partition, fromOffset: body.fromOffset, toOffset: body.toOffset }, corruptRange);

  // The node shows it: overview (count, the batch, a recent error) and the metrics.
  const overview = (await (await fetch(`${base}/api/overview`)).json()) as { log: { corruptBatches: number; corrupt: Array<Record<string, unknown>> }; errors: Array<{ component: string; detail: string }> };
  assert.equal(overview.log.corruptBatches, 1);
  assert.deepEqual([overview.log.corrupt[0]!.topic, overview.log.corrupt[0]!.fromOffset, overview.log.corrupt[0]!.toOffset], ['telemetry', 1400, 1499]);
  assert.ok(overview.errors.some((e) => e.component === 'log' && e.detail.startsWith('telemetry-0 offsets 1400..1499')));
  assert.match(await (await fetch(`${base}/metrics`)).text(), /^tributary_log_corrupt_batches_total 1$/m);
});

test('onCorrupt=skip passes over a corrupt batch and reports it in-band, in the trailer and in the stats', async (t) => {
  const n = await startTestNode(t, {}, await corruptData(t));
  const base = `http://127.0.0.1:${n.node.http.port}`;
  const res = await getWithTrailers(`${base}/api/topics/telemetry/records?partition=0&onCorrupt=skip`);
  assert.equal(res.status, 200);
  const lines = res.body.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const records = lines.filter((l) => 'offset' in l).map((l) => l.offset as number);
  assert.deepEqual(records, Array.from({ length: 3000 }, (_, i) => i).filter((i) => i < 1400 || i >= 1500));
  const skipped = lines.filter((l) => 'skipped' in l).map((l) => l.skipped as Record<string, unknown>);
  assert.deepEqual(skipped.map((s) => [s.topic, s.partition, s.fromOffset, s.toOffset]), [['telemetry', 0, 1400, 1499]]);
  assert.equal(lines.findIndex((l) => 'skipped' in l), 1400, 'the skip is reported where it happened');
  assert.deepEqual(JSON.parse(res.trailers['x-tributary-skipped']!).map((s: { fromOffset: number }) => s.fromOffset), [1400]);
  assert.equal(res.trailers['x-tributary-error'], undefined);
  // Starting inside it, with CSV: skipped too (no in-band line in CSV; the trailer names it).
  const csv = await getWithTrailers(`${base}/api/topics/telemetry/records?partition=0&from-offset=1450&format=csv&onCorrupt=skip`);
  assert.equal(csv.status, 200);
  assert.equal(csv.body.trimEnd().split('\r\n').length, 1 + 1500);
  assert.equal(JSON.parse(csv.trailers['x-tributary-skipped']!)[0].toOffset, 1499);
  assert.equal(n.node.http.records.stats.corruptSkipped, 2);
  assert.equal((await errorOf(`${base}/api/topics/telemetry/records?onCorrupt=maybe`)).code, 'TRIB_USAGE');
});
