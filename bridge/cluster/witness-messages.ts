// The witness's fetch (docs/replication.md, "The witness"): the request is a follower's Fetch
// (messages.ts), the answer is a Fetch answer whose entries carry each stored batch's header only,
// never its bytes. API key 1000 is ours (no Kafka API fetches headers); version 0.
// Request:  as Fetch (replica_id, epoch, last_epoch, last_seq, max_wait_ms, max_bytes)
// Response: error int16, epoch int32, leader_id nullable string, commit_seq int64,
//   diverging_epoch int32, diverging_end_seq int64 (seq -1: none; epoch -1 with seq 0: the follower diverges from its first entry),
//   [entries: seq int64, epoch int32, topic string, partition int32,
//             base_offset int64, last_offset int64, size int32],
//   [voters: id string, directory_id string] (as a data node's fetch answer; absent from an older leader's)
import type { StoredEntry } from '../../broker/log/log.js';
import { decodeFetchHead, decodeVoters, encodeFetchHead, encodeVoters, Reader, Writer, type FetchResponse } from './messages.js';

export const API_FETCH_HEADERS = 1000;

/** One replication-log entry without its records: where it sits and what it covers. */
export interface EntryHeader {
  seq: number;
  epoch: number;
  topic: string;
  partition: number;
  baseOffset: number;
  lastOffset: number;
  /** The stored batch's size in bytes. */
  size: number;
}

export interface HeadersResponse extends Omit<FetchResponse, 'entries'> {
  entries: EntryHeader[];
}

/** A stored batch's header: baseOffset int64 at byte 0, lastOffsetDelta int32 at byte 23 (record-batch.ts). */
export function headerOf(entry: StoredEntry): EntryHeader {
  const baseOffset = Number(entry.batch.readBigInt64BE(0));
  return { seq: entry.seq, epoch: entry.epoch, topic: entry.topic, partition: entry.partition, baseOffset, lastOffset: baseOffset + entry.batch.readInt32BE(23), size: entry.batch.length };
}

export function encodeHeadersResponse(w: Writer, f: FetchResponse): Writer {
  encodeFetchHead(w, f).array(f.entries.map(headerOf), false, (out, h) => {
    out.int64(h.seq).int32(h.epoch).string(h.topic, false).int32(h.partition).int64(h.baseOffset).int64(h.lastOffset).int32(h.size);
  });
  return encodeVoters(w, f.voters);
}

export function decodeHeadersResponse(r: Reader): HeadersResponse {
  const head = decodeFetchHead(r);
  const entries = r.array(false, (e) => ({ seq: e.int64(), epoch: e.int32(), topic: e.string(false), partition: e.int32(), baseOffset: e.int64(), lastOffset: e.int64(), size: e.int32() }));
  return { ...head, entries, voters: decodeVoters(r) };
}
