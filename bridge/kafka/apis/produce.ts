// Produce (key 0), versions 3-9, REFUSED: this endpoint does not take records yet (the next slice
// does: acks, idempotent producers, the log's mapping of keys to partitions). It is listed in
// ApiVersions all the same because librdkafka (kcat, confluent-kafka-python, ...) reads RecordBatch
// v2, the only format the log stores, only from a broker that advertises Produce >= 3 and Fetch >= 4
// (librdkafka src/rdkafka_feature.c, feature MsgVer2); without it kcat falls back to Fetch v2 and
// reads nothing. Every partition of a request is answered POLICY_VIOLATION ("the endpoint is read
// only"), with that message from v8. (ProduceRequest.json / ProduceResponse.json; flexible from v9.)
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
// acks = 0: the client expects no response, and gets none (the records are not stored either).
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler } from './api.js';

const POLICY_VIOLATION = 44;
export const PRODUCE_REFUSED = 'this Tributary endpoint is read only: Produce is not served yet';

export const produce: ApiHandler = {
  key: 0,
  name: 'Produce',
  minVersion: 3,
  maxVersion: 9,
  flexibleFrom: 9,
  handle(request: Reader, version: number): Writer | null {
    const flexible = isFlexible(this, version);
    request.nullableString(flexible); // transactional id
    const acks = request.int16();
    request.int32(); // timeout
    const topics = request.array(flexible, (r) => {
      const name = r.string(flexible);
      const partitions = r.array(flexible, (r) => {
        const index = r.int32();
        r.nullableBytes(flexible);
        if (flexible) r.taggedFields();
        return index;
      });
      if (flexible) r.taggedFields();
      return { name, partitions };
    });
    if (flexible) request.taggedFields();
    if (acks === 0) return null;

    const w = new Writer();
    w.array(topics, flexible, (w, t) => {
      w.string(t.name, flexible);
      w.array(t.partitions, flexible, (w, index) => {
        w.int32(index).int16(POLICY_VIOLATION).int64(-1).int64(-1);
        if (version >= 5) w.int64(-1);
        if (version >= 8) w.array([], flexible, () => undefined).string(PRODUCE_REFUSED, flexible);
        if (flexible) w.taggedFields();
      });
      if (flexible) w.taggedFields();
    });
    w.int32(0);
    if (flexible) w.taggedFields();
    return w;
  },
};
