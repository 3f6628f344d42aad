// `tributary replay`: pulls a range of a topic out of a node, over HTTP from a running node or
// straight from a stopped node's data directory, into NDJSON/CSV/raw output or back into MQTT.
// With --reader NAME the position is kept durably and committed only after the output has taken
// the records (file: fsynced; MQTT: acknowledged), so a job that dies resumes without a gap.
import { CursorStore } from '../../broker/cursors.js';
import { type CorruptBatchError, TributaryError, UsageError } from '../../broker/errors.js';
import { Log } from '../../broker/log/log.js';
import { createEncoder, parseFormat, type Format } from '../replay/formats.js';
import { controlLineAt, type CorruptPolicy, firstControlLine, readSkipping, type SkipReport, skipReport, type StreamErrorBody } from '../replay/corrupt.js';
import { BatchLineSource } from '../replay/batch-lines.js';
import { LogSource } from '../replay/log-source.js';
import { NdjsonEncoder } from '../replay/ndjson.js';
import { decodeLine, LinePositionReader } from '../replay/ndjson-decode.js';
import { ERROR_TRAILER } from '../shared/records-protocol.js';
import { type CliEnvironment, type NodeClient, nodeClient, RemoteError } from './node-client.js';
import type { MqttReplaySink } from '../replay/mqtt-sink.js';
import { parseMqttTargets, parsePace, parseQos } from '../replay/mqtt-target.js';
import { ByteOutput, OutputClosed } from '../replay/output.js';
import { PartialDelivery, Positions } from '../replay/positions.js';
import { ReaderPositions } from '../replay/reader-store.js';
import { parseRequest, resolveRanges, type PartitionRange, type ReplayRequest } from '../replay/range.js';
import { parseFlags } from './command-line.js';
import { checkDataDir } from './data-dir.js';
import { formatCount, Progress } from './progress.js';
import type { LogRecord } from '../../broker/log/record-batch.js';

export const REPLAY_HELP = `Usage: tributary replay --topic T [options]

Range (offsets: end exclusive; times: ISO 8601, -90s/-30m/-1h/-2d/-1w, now, 1700000000s/…ms):
  --partition P          one partition (default: all, merged by timestamp)
  --from-offset N | --from-time T
  --to-offset N   | --to-time T     (stops before it; default: the log end when the replay starts)
  --key K                only records with this key
  --reader NAME          resume from NAME's stored position and keep it (see tributary readers)
  --skip-corrupt         pass over corrupt stored batches, each reported on stderr (default: write
                         every record before the first one, then fail with TRIB_LOG_CORRUPT_BATCH)

Output:
  --format ndjson|csv|raw  (default ndjson; see docs/replay.md for the value encodings)
  --base64               values always as base64 (exact bytes)
  --out FILE             write to FILE instead of stdout
  --to-mqtt URL          republish into MQTT: mqtt://host:port[/prefix]; a cluster's gateways
                         comma-separated (or --to-mqtt again), one prefix for all: on a refusal
                         or a lost connection the next is used, unacknowledged records sent again
    --qos 0|1|2          (default 1; waits for the broker's acknowledgements)
    --rate N | --speed 1x|10x|max   messages/s, or the original timing sped up (default max)

Source:
  --url URL              a running node (default http://127.0.0.1:8080); a cluster's nodes
                         comma-separated: the next is tried when one is down, and a
                         reader's commits go to the leader
  --token TOKEN          the node's http.token (default: env TRIBUTARY_HTTP_TOKEN)
  --data-dir DIR         a stopped node's data directory instead`;

const OPTIONS = {
  topic: { type: 'string' },
  partition: { type: 'string' },
  'from-offset': { type: 'string' },
  'from-time': { type: 'string' },
  'to-offset': { type: 'string' },
  'to-time': { type: 'string' },
  key: { type: 'string' },
  reader: { type: 'string' },
  'skip-corrupt': { type: 'boolean' },
  format: { type: 'string' },
  base64: { type: 'boolean' },
  out: { type: 'string' },
  'to-mqtt': { type: 'string', multiple: true },
  qos: { type: 'string' },
  rate: { type: 'string' },
  speed: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMIT_EVERY_MS = 2000;

/** `--from-time -1h` reads like an option to parseArgs; joined into `--from-time=-1h` it is a value. */
function joinRelativeTimes(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if ((arg === '--from-time' || arg === '--to-time') && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** Where replayed records go: bytes to a file/stdout, or publishes into MQTT. */
interface Destination {
  /** NDJSON bytes straight from the node can be written as they are. */
  readonly passthrough: boolean;
  records(partition: number, records: LogRecord[]): Promise<void>;
  bytes(bytes: Buffer): Promise<void>;
  /** What was handed over is delivered (fsynced, acknowledged). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** Commits a named reader's positions: into the store, or through the node that owns it. */
type Committer = (positions: Array<{ partition: number; nextOffset: number }>) => Promise<void>;

export async function replayCommand(argv: string[], env: CliEnvironment): Promise<number> {
  const values = parseFlags('replay', joinRelativeTimes(argv), OPTIONS);
  if (values.help) {
    process.stdout.write(`${REPLAY_HELP}\n`);
    return 0;
  }
  if (values.topic === undefined) throw new UsageError(`--topic is required\n\n${REPLAY_HELP}`);
  if (values.url !== undefined && values['data-dir'] !== undefined) throw new UsageError('give --url or --data-dir, not both');
  const toMqtt = values['to-mqtt'];
  if (toMqtt !== undefined && (values.format !== undefined || values.out !== undefined || values.base64)) {
    throw new UsageError('--to-mqtt publishes records; --format, --out and --base64 do not apply');
  }
  if (toMqtt === undefined && (values.qos !== undefined || values.rate !== undefined || values.speed !== undefined)) {
    throw new UsageError('--qos, --rate and --speed only apply with --to-mqtt');
  }
  const request = parseRequest(
    {
      topic: values.topic,
      partition: values.partition,
      fromOffset: values['from-offset'],
      fromTime: values['from-time'],
      toOffset: values['to-offset'],
      toTime: values['to-time'],
      key: values.key,
      reader: values.reader,
    },
    { topic: '--topic', partition: '--partition', fromOffset: '--from-offset', fromTime: '--from-time', toOffset: '--to-offset', toTime: '--to-time', key: '--key', reader: '--reader' },
  );
  const format = parseFormat(values.format, '--format');
  const forceBase64 = values.base64 === true;
  const skips = new SkipLog(values['skip-corrupt'] === true ? 'skip' : 'fail');
  // Checked before anything is opened, so a typo costs no connection.
  const mqttPlan = toMqtt === undefined ? null : { target: parseMqttTargets(toMqtt), qos: parseQos(values.qos), pace: parsePace(values.rate, values.speed) };

  const destination: Destination =
    mqttPlan === null
      ? await byteDestination(values.out, format, request.topic, forceBase64)
      : await mqttDestination(await (await import('../replay/mqtt-sink.js')).MqttReplaySink.connect(mqttPlan.target, request.topic, mqttPlan.qos, mqttPlan.pace, reportMove));
  try {
    const dataDir = values['data-dir'];
    const delivered = dataDir !== undefined ? await fromDataDir(dataDir, request, format, forceBase64, destination, skips) : await fromNode(nodeClient(values, env), request, format, forceBase64, destination, skips);
    skips.summary();
    return delivered;
  } finally {
    await destination.close().catch(() => undefined);
  }
}

async function byteDestination(out: string | undefined, format: Format, topic: string, forceBase64: boolean): Promise<Destination> {
  const output = await ByteOutput.open(out);
  const encoder = createEncoder(format, topic, { forceBase64 });
  let headWritten = false;
  const head = async (): Promise<void> => {
    if (!headWritten && encoder.head.length > 0) await output.write(encoder.head);
    headWritten = true;
  };
  return {
    passthrough: format === 'ndjson',
    async records(partition, records) {
      await head();
      await output.write(encoder.encode(partition, records));
    },
    bytes: (bytes) => output.write(bytes),
    async flush() {
      await head();
      await output.flush();
    },
    close: () => output.close(),
  };
}

async function mqttDestination(sink: MqttReplaySink): Promise<Destination> {
  return {
    passthrough: false,
    records: (_partition, records) => sink.publish(records),
    bytes: () => Promise.reject(new Error('MQTT takes records, not bytes')),
    flush: async () => undefined, // publish() resolves only once acknowledged
    async close() {
      if (sink.moves > 0) {
        process.stderr.write(`tributary: --to-mqtt: moved ${sink.moves} time(s); ${sink.resent} publish(es) sent again (at QoS 1 a broker may hold these twice)\n`);
      }
      await sink.close();
    },
  };
}

/** One stderr line when the replay moves to another address (a failover in the cluster). */
function reportMove(from: string, to: string, why: string): void {
  process.stderr.write(`tributary: --to-mqtt: ${why}; went on at ${to}\n`);
}

/** Runs the replay against a stopped node's data directory. */
async function fromDataDir(dataDir: string, request: ReplayRequest, format: Format, forceBase64: boolean, destination: Destination, skips: SkipLog): Promise<number> {
  checkDataDir(dataDir);
  const log = await Log.open({ dataDir });
  const cursors = request.reader === null ? null : CursorStore.open(log.dataDir);
  const readers = cursors === null ? null : new ReaderPositions(cursors);
  try {
    const ranges = resolveRanges(log, request, readers);
    const key = request.key === null ? null : Buffer.from(request.key);
    const commit: Committer | null = readers === null ? null : async (positions) => readers.commitMany(request.reader!, positions.map((p) => ({ topic: request.topic, ...p })));
    const nonEmpty = ranges.filter((r) => r.to > r.from);
    if (destination.passthrough && format === 'ndjson' && nonEmpty.length === 1) {
      // One partition as NDJSON: lines straight from the stored batches, as the node serves them.
      const lines = new BatchLineSource(log, request.topic, nonEmpty[0]!, new NdjsonEncoder(request.topic, { forceBase64 }), key);
      const range = nonEmpty[0]!;
      return await run(ranges, destination, commit, async (delivery) => {
        const next = (): ReturnType<typeof lines.nextChunk> =>
          readSkipping(() => lines.nextChunk(), skips.policy, (err) => {
            lines.skip(err);
            skips.report(skipReport(err));
            delivery.advance(range.partition, Math.min(err.lastOffset + 1, range.to));
          });
        for (let chunk = next(); chunk !== null; chunk = next()) {
          if (chunk.bytes.length > 0) await destination.bytes(chunk.bytes);
          delivery.advance(range.partition, chunk.nextOffset);
          delivery.tick();
        }
      });
    }
    const source = new LogSource(log, request.topic, ranges, { key });
    // Positions past skipped batches, handed to the run loop with the next chunk.
    const skippedTo: Array<[number, number]> = [];
    const skipIn = (err: CorruptBatchError): void => {
      source.skip(err);
      skips.report(skipReport(err));
      const range = ranges.find((r) => r.partition === err.partition);
      if (range !== undefined) skippedTo.push([err.partition, Math.min(err.lastOffset + 1, range.to)]);
    };
    return await run(ranges, destination, commit, async (delivery) => {
      const next = (): ReturnType<typeof source.next> => {
        const chunk = readSkipping(() => source.next(), skips.policy, skipIn);
        for (const [partition, offset] of skippedTo.splice(0)) delivery.advance(partition, offset);
        return chunk;
      };
      for (let chunk = next(); chunk !== null; chunk = next()) {
        await deliverRecords(destination, delivery, chunk.partition, chunk.records, chunk.nextOffset);
        delivery.tick();
      }
    });
  } finally {
    cursors?.close();
    await log.close();
  }
}

/** Runs the replay against a running node's records stream. */
async function fromNode(node: NodeClient, request: ReplayRequest, format: Format, forceBase64: boolean, destination: Destination, skips: SkipLog): Promise<number> {
  const passthrough = destination.passthrough && format === 'ndjson';
  const { ranges, body } = await node.openRecordStream(request.topic, {
    partition: request.partition?.toString(),
    'from-offset': request.from !== null && 'offset' in request.from ? String(request.from.offset) : undefined,
    'from-time': request.from !== null && 'time' in request.from ? `${request.from.time}ms` : undefined,
    'to-offset': request.to !== null && 'offset' in request.to ? String(request.to.offset) : undefined,
    'to-time': request.to !== null && 'time' in request.to ? `${request.to.time}ms` : undefined,
    key: request.key ?? undefined,
    reader: request.reader ?? undefined,
    // Anything but passthrough rebuilds records, which needs the exact bytes.
    base64: passthrough ? (forceBase64 ? 'true' : undefined) : 'true',
    onCorrupt: skips.policy === 'skip' ? 'skip' : undefined,
  });
  const commit: Committer | null =
    request.reader === null
      ? null
      : async (positions) => {
          await node.json(`/api/readers/${encodeURIComponent(request.reader!)}/positions`, 'POST', { topic: request.topic, positions });
        };
  const lines = new LinePositionReader(request.topic);
  return run(ranges, destination, commit, async (delivery) => {
    let rest: Buffer | null = null;
    try {
      for await (const piece of body as AsyncIterable<Buffer>) {
        const buf: Buffer = rest === null ? piece : Buffer.concat([rest, piece]);
        const end = buf.lastIndexOf(0x0a) + 1;
        rest = end < buf.length ? buf.subarray(end) : null;
        if (end === 0) continue;
        if (passthrough && firstControlLine(buf, end) < 0) {
          await destination.bytes(end === buf.length ? buf : buf.subarray(0, end));
          for (let start = 0; start < end; start = buf.indexOf(0x0a, start) + 1) {
            const [partition, offset] = lines.read(buf, start);
            delivery.advance(partition, offset + 1);
          }
        } else if (passthrough) {
          await deliverWithControlLines(buf, end, lines, destination, delivery, skips);
        } else {
          await deliverDecoded(buf.toString('utf8', 0, end), destination, delivery, skips);
        }
        delivery.tick();
      }
    } catch (err) {
      // The destination's own failures (a file, the MQTT broker) are not the node's.
      if (err instanceof RemoteError || err instanceof TributaryError || err instanceof OutputClosed) throw err;
      throw new RemoteError('TRIB_HTTP_INTERNAL', `the node cut the record stream short (${(err as Error).message}); see the node's log. Records up to the cut were written`, 0);
    }
    // NDJSON says it in-band (above); the trailer is the same error for every format.
    const trailer = body.trailers[ERROR_TRAILER];
    if (trailer !== undefined) throw streamError(JSON.parse(trailer) as StreamErrorBody);
    if (rest !== null) throw new RemoteError('TRIB_HTTP_INTERNAL', 'the record stream ended inside a line', 0);
  });
}

/** Decodes NDJSON lines and hands them on in runs of one partition. */
async function deliverDecoded(text: string, destination: Destination, delivery: Delivery, skips: SkipLog): Promise<void> {
  let run: LogRecord[] = [];
  let runPartition = -1;
  const flush = async (): Promise<void> => {
    if (run.length === 0) return;
    await deliverRecords(destination, delivery, runPartition, run, run[run.length - 1]!.offset + 1);
    run = [];
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (!line.startsWith('{"topic":')) {
      await flush();
      handleControlLine(line, delivery, skips);
      continue;
    }
    const { partition, record } = decodeLine(line);
    if (partition !== runPartition) await flush();
    runPartition = partition;
    run.push(record);
  }
  await flush();
}

/** Passthrough of lines that include control lines: the record lines between them as they are. */
async function deliverWithControlLines(buf: Buffer, end: number, lines: LinePositionReader, destination: Destination, delivery: Delivery, skips: SkipLog): Promise<void> {
  let segment = 0;
  let positions: Array<[number, number]> = [];
  const writeUpTo = async (upTo: number): Promise<void> => {
    if (upTo > segment) await destination.bytes(buf.subarray(segment, upTo));
    for (const [partition, offset] of positions) delivery.advance(partition, offset + 1);
    positions = [];
  };
  for (let start = 0; start < end; ) {
    const lineEnd = buf.indexOf(0x0a, start) + 1;
    if (controlLineAt(buf, start) === null) {
      positions.push(lines.read(buf, start));
    } else {
      await writeUpTo(start);
      segment = lineEnd;
      handleControlLine(buf.toString('utf8', start, lineEnd - 1), delivery, skips);
    }
    start = lineEnd;
  }
  await writeUpTo(end);
}

/** An {"error":…} line ends the replay with the node's error; a {"skipped":…} line is reported. */
function handleControlLine(line: string, delivery: Delivery, skips: SkipLog): void {
  const parsed = JSON.parse(line) as { error?: StreamErrorBody; skipped?: SkipReport };
  if (parsed.skipped !== undefined) {
    skips.report(parsed.skipped);
    delivery.advance(parsed.skipped.partition, parsed.skipped.toOffset + 1);
    return;
  }
  if (parsed.error !== undefined) throw streamError(parsed.error);
  throw new RemoteError('TRIB_HTTP_INTERNAL', `the node sent a line that is neither a record nor a control line: ${line.slice(0, 200)}`, 0);
}

function streamError(error: StreamErrorBody): RemoteError {
  return new RemoteError(error.code, error.message, 200);
}

/** The corrupt batches a replay passed over (--skip-corrupt): one stderr line each, and a summary. */
class SkipLog {
  private readonly skipped: SkipReport[] = [];

  constructor(readonly policy: CorruptPolicy) {}

  report(skip: SkipReport): void {
    this.skipped.push(skip);
    process.stderr.write(`tributary: skipped corrupt batch ${skip.topic}-${skip.partition} offsets ${skip.fromOffset}..${skip.toOffset}: ${skip.message} [${skip.code}]\n`);
  }

  summary(): void {
    if (this.skipped.length === 0) return;
    const records = this.skipped.reduce((n, s) => n + s.toOffset - s.fromOffset + 1, 0);
    process.stderr.write(`tributary: skipped ${this.skipped.length} corrupt batch(es), ${records} offsets not replayed (--skip-corrupt)\n`);
  }
}

/**
 * Hands records to the destination, then moves the partition's position to `nextOffset`; when the
 * destination took only some of them, past those only, and the replay fails.
 */
async function deliverRecords(destination: Destination, delivery: Delivery, partition: number, records: LogRecord[], nextOffset: number): Promise<void> {
  try {
    if (records.length > 0) await destination.records(partition, records); // empty: a key scan's step
  } catch (err) {
    if (!(err instanceof PartialDelivery)) throw err;
    if (err.delivered > 0) delivery.advance(partition, records[err.delivered - 1]!.offset + 1);
    throw err.cause;
  }
  delivery.advance(partition, nextOffset);
}

/** What a source tells the run loop: a partition's new position, and "a unit was delivered". */
interface Delivery {
  advance(partition: number, nextOffset: number): void;
  tick(): void;
}

/**
 * Drives one replay: the source pushes delivered units through `delivery`; progress is drawn, a
 * named reader's positions are committed every few seconds (after a flush) and at the end. When
 * the replay fails, what was delivered before the failure is still committed.
 */
async function run(ranges: PartitionRange[], destination: Destination, commit: Committer | null, pump: (delivery: Delivery) => Promise<void>): Promise<number> {
  const positions = new Positions(ranges);
  const progress = new Progress(positions.total, 'records');
  let lastCommit = Date.now();
  let committing = null as Promise<void> | null;
  const commitNow = async (): Promise<void> => {
    if (commit === null) return;
    // Positions taken BEFORE the flush: everything they cover has been handed to the output.
    const changes = positions.takeChanges();
    await destination.flush();
    if (changes !== null) await commit(changes);
  };
  try {
    await pump({
      advance: (partition, nextOffset) => positions.advance(partition, nextOffset),
      tick: () => {
        progress.update(positions.done);
        if (commit !== null && committing === null && Date.now() - lastCommit >= COMMIT_EVERY_MS) {
          lastCommit = Date.now();
          committing = commitNow().finally(() => (committing = null));
        }
      },
    });
    await committing;
    positions.complete();
    await commitNow();
  } catch (err) {
    await committing?.catch(() => undefined);
    if (!(err instanceof OutputClosed)) await commitNow().catch(() => undefined);
    if (err instanceof OutputClosed) return 0;
    throw err;
  }
  progress.finish(`replayed ${formatCount(positions.done)} records in ${progress.seconds.toFixed(1)} s`);
  return 0;
}
