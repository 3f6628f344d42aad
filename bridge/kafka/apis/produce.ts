// Produce (key 0), versions 3-9 (RecordBatch v2 only; flexible from v9). Each partition's batch
// goes to Log.appendBatch, which stores it as the client sent it (the log patches only the base
// offset and the leader epoch, outside the CRC) through the writer thread, with the idempotent
// producer's sequence checks in the transaction that stores it. (ProduceRequest.json /
// ProduceResponse.json.)
//
//   Produce Request => transactional_id acks timeout_ms [topic_data] TAG_BUFFER
//     transactional_id => NULLABLE_STRING, acks => INT16, timeout_ms => INT32
//     topic_data => name [partition_data] TAG_BUFFER
//       partition_data => index records TAG_BUFFER
//         index => INT32, records => RECORDS (nullable)
//
//   Produce Response => [responses] throttle_time_ms TAG_BUFFER
//     responses => name [partition_responses] TAG_BUFFER
//       partition_responses => index error_code base_offset log_append_time_ms log_start_offset
//                              [record_errors] error_message TAG_BUFFER
//         index => INT32, error_code => INT16, base_offset => INT64, log_append_time_ms => INT64,
//         log_start_offset => INT64 (v5+),
//         record_errors => batch_index INT32, batch_index_error_message NULLABLE_STRING (v8+)
//         error_message => NULLABLE_STRING (v8+)
//     throttle_time_ms => INT32
//
// acks: 1 is answered once the batch is durable under log.durability (the leader's append). -1 is
// answered once the batch is committed: the partition's high watermark has passed it (Log.waitFor),
// which on a single node is the same moment (the log's commit policy commits what is durable) and
// with replication will be "committed by the quorum". timeout_ms bounds that wait for the commit,
// as in Kafka (it bounds the wait for the ISR, not the leader's append): a partition not committed
// by then is answered REQUEST_TIMED_OUT; the batch stays stored and may still be committed, and an
// idempotent producer's retry of it is answered as a duplicate. acks 0: stored the same way, and no
// response at all (none is expected); a failure is logged at debug level only. Topics are never created here (UNKNOWN_TOPIC_OR_PARTITION): they come
// from the config's topics and the MQTT mapping. A request with a transactional id is refused
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED): this endpoint has no transactions.
import type { AppendInfo } from '../../../broker/log/log.js';
import type { Reader } from '../protocol/reader.js';
import { DecompressionBudget } from '../protocol/compressed-batch.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { Writer } from '../protocol/writer.js';
import { DecompressionError } from '../errors.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { errorCodeOf } from './partition-errors.js';

/** Kafka's broker default message.max.bytes: the largest batch a partition takes (kafka.maxMessageBytes). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
/** What one request's compressed batches may expand to together (kafka.maxUncompressedBytes). */
export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 32 * 1024 * 1024;
export const NO_TRANSACTIONS = 'this Tributary endpoint has no transactions: a transactional id is not served';

interface PartitionData {
  index: number;
  records: Buffer | null;
}

interface PartitionAnswer {
  index: number;
  errorCode: number;
  baseOffset: number;
  logStartOffset: number;
  message: string | null;
}

export const produce: ApiHandler = {
  key: 0,
  name: 'Produce',
  minVersion: 3,
  maxVersion: 9,
  flexibleFrom: 9,
  async handle(request: Reader, version: number, context: RequestContext): Promise<Writer | null> {
    const flexible = isFlexible(this, version);
    const transactionalId = request.nullableString(flexible);
    const acks = request.int16();
    const timeoutMs = request.int32();
    const topics = request.array(flexible, (r) => {
      const name = r.string(flexible);
      const partitions = r.array(flexible, (r): PartitionData => {
        const index = r.int32();
        const records = r.nullableBytes(flexible);
        if (flexible) r.taggedFields();
        return { index, records };
      });
      if (flexible) r.taggedFields();
      return { name, partitions };
    });
    if (flexible) request.taggedFields();

    const budget = new DecompressionBudget(context.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES);
    const refuse = (errorCode: number, message: string) => (p: PartitionData) => Promise.resolve(answerOf(p.index, errorCode, message));
    const store =
      transactionalId !== null
        ? () => refuse(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, NO_TRANSACTIONS)
        : acks !== 0 && acks !== 1 && acks !== -1
          ? () => refuse(ErrorCode.INVALID_REQUIRED_ACKS, `acks must be -1, 0 or 1, not ${acks}`)
          : (topic: string) => (p: PartitionData) => appendPartition(context, topic, p, budget, acks === -1 ? timeoutMs : null);
    const answers = await Promise.all(topics.map(async (t) => ({ name: t.name, partitions: await Promise.all(t.partitions.map((p) => store(t.name)(p))) })));
    if (acks === 0) {
      for (const t of answers) for (const p of t.partitions) if (p.errorCode !== ErrorCode.NONE) context.logger.debug({ topic: t.name, partition: p.index, errorCode: p.errorCode, message: p.message }, 'acks=0 produce not stored');
      return null;
    }

    const w = new Writer();
    w.array(answers, flexible, (w, t) => {
      w.string(t.name, flexible);
      w.array(t.partitions, flexible, (w, p) => {
        w.int32(p.index).int16(p.errorCode).int64(p.baseOffset).int64(-1); // log_append_time: -1, records keep CreateTime
        if (version >= 5) w.int64(p.logStartOffset);
        if (version >= 8) w.array([], flexible, () => undefined).string(p.message, flexible);
        if (flexible) w.taggedFields();
      });
      if (flexible) w.taggedFields();
    });
    w.int32(0);
    if (flexible) w.taggedFields();
    return w;
  },
};

/**
 * Stores one partition's batch (decompressed first if it is compressed), and with `commitTimeoutMs` (acks -1) waits up to that long for it to
 * be committed; every failure is this partition's error code.
 */
const INTERNAL_TOPIC_PREFIX = '__tributary_';

async function appendPartition(context: RequestContext, topic: string, p: PartitionData, budget: DecompressionBudget, commitTimeoutMs: number | null): Promise<PartitionAnswer> {
  const maxBytes = context.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  // kafka.acl, before anything else about the topic (as Fetch), so that a client cannot probe for names.
  if (!context.authorize('write', topic)) return answerOf(p.index, ErrorCode.TOPIC_AUTHORIZATION_FAILED, `not allowed to write to '${topic}' (kafka.acl)`);
  // Internal topics (`__tributary_*`: epochs, replicated state, key releases) are the node's own:
  // followers apply their records, so a client's would change what they hold (docs/replication.md).
  if (topic.startsWith(INTERNAL_TOPIC_PREFIX)) return answerOf(p.index, ErrorCode.INVALID_TOPIC_EXCEPTION, `'${topic}' is an internal topic; clients cannot write to it`);
  if (p.records === null || p.records.length === 0) return answerOf(p.index, ErrorCode.INVALID_RECORD, 'no record batch');
  if (p.records.length > maxBytes) return answerOf(p.index, ErrorCode.MESSAGE_TOO_LARGE, `a batch of ${p.records.length} bytes is over kafka.maxMessageBytes (${maxBytes})`);
  let info: AppendInfo;
  try {
    // Decompressing awaits: the append is issued in request order all the same (inOrder), so a
    // later pipelined request's batch cannot overtake this one's sequence. The step ends once the
    // append is handed to the log (wrapped: not once it is durable, which the pipeline overlaps).
    const records = p.records;
    const issue = async (): Promise<{ appended: Promise<AppendInfo> }> => ({ appended: context.log.appendBatch(topic, p.index, await budget.uncompressed(records)) });
    const { appended } = await (context.inOrder ? context.inOrder(issue) : issue());
    info = await appended;
    if (commitTimeoutMs !== null && !(await context.log.waitFor(topic, p.index, info.lastOffset, Math.max(0, commitTimeoutMs), context.signal))) {
      return answerOf(p.index, ErrorCode.REQUEST_TIMED_OUT, `stored at ${info.baseOffset}, not committed within timeout_ms (${commitTimeoutMs} ms)`);
    }
  } catch (err) {
    if (err instanceof DecompressionError) context.logger.warn({ clientId: context.clientId, topic, partition: p.index, codec: err.codec, problem: err.problem, code: err.code }, `compressed batch refused: ${err.message}`);
    return answerOf(p.index, produceErrorCode(err, context, { topic, partition: p.index }), (err as Error).message);
  }
  const logStartOffset = context.log.partition(topic, p.index).logStartOffset;
  return { index: p.index, errorCode: ErrorCode.NONE, baseOffset: info.baseOffset, logStartOffset, message: null };
}

/** The Kafka error code of a failed partition append. */
function produceErrorCode(err: unknown, context: RequestContext, what: Record<string, unknown>): number {
  const e = err as { code?: unknown; problem?: unknown } | null;
  switch (e?.code) {
    case 'TRIB_LOG_INVALID_BATCH':
      return e.problem === 'compressed' ? ErrorCode.UNSUPPORTED_COMPRESSION_TYPE : e.problem === 'corrupt' ? ErrorCode.CORRUPT_MESSAGE : ErrorCode.INVALID_RECORD;
    case 'TRIB_KAFKA_DECOMPRESSION':
      // A codec Kafka does not define; bytes that do not decode; more than kafka.maxUncompressedBytes
      // (the Java producer splits a batch answered MESSAGE_TOO_LARGE and sends the halves).
      return e.problem === 'unsupported' ? ErrorCode.UNSUPPORTED_COMPRESSION_TYPE : e.problem === 'too-large' ? ErrorCode.MESSAGE_TOO_LARGE : ErrorCode.CORRUPT_MESSAGE;
    case 'TRIB_LOG_OUT_OF_ORDER_SEQUENCE':
      return ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER;
    case 'TRIB_LOG_PRODUCER_FENCED':
      return ErrorCode.INVALID_PRODUCER_EPOCH;
    case 'TRIB_LOG_DISK_BUDGET':
    case 'TRIB_LOG_DISK_FULL':
      // Retriable on the client's side; the log frees space or the forwarder catches up.
      return ErrorCode.KAFKA_STORAGE_ERROR;
    default:
      return errorCodeOf(err, context, what);
  }
}

function answerOf(index: number, errorCode: number, message: string): PartitionAnswer {
  return { index, errorCode, baseOffset: -1, logStartOffset: -1, message };
}
