// The replication messages, carried in Kafka protocol frames (int32 size, then the body) with the
// Kafka primitive types (bridge/kafka/protocol), as KRaft carries its metadata quorum (KIP-595).
// The API keys are Kafka's: Fetch (1), Vote (52), BeginQuorumEpoch (53); the bodies are ours,
// version 0, and name the replication log by position `seq` rather than by topic-partition.
// Request:  api_key int16, api_version int16, correlation_id int32, body
// Response: correlation_id int32, body
import { Reader } from '../kafka/protocol/reader.js';
import { Writer } from '../kafka/protocol/writer.js';
import type { EntryPosition, LogStartOffset, StoredEntry } from '../../broker/log/log.js';

export const API_FETCH = 1;
export const API_VOTE = 52;
export const API_BEGIN_QUORUM_EPOCH = 53;
export const API_END_QUORUM_EPOCH = 54;

/** Fetch answers' errors (Kafka's numbers where one fits). */
export const NONE = 0;
/** The request's epoch is older than the answering node's: the requester learns the newer epoch and leader. */
export const FENCED_LEADER_EPOCH = 74;
/** The answering node does not lead this epoch; `leaderId` says who does, if known. */
export const NOT_LEADER = 6;
/** The requester is not among the answering node's peers. */
export const UNKNOWN_MEMBER = 25;

// Vote: candidate_id string, epoch int32, last_epoch int32, last_seq int64, pre_vote int8,
//   candidate_directory_id nullable string, voter_directory_id nullable string
//   (KIP-853's directory ids; absent from an older node's request)
export interface VoteRequest {
  candidateId: string;
  epoch: number;
  last: EntryPosition;
  /** KRaft's pre-vote: would the voter grant it? Nothing changes at the voter. */
  preVote: boolean;
  /** The candidate's own directory id; null: not sent. */
  candidateDirectoryId?: string | null;
  /** The directory id the candidate knows for the voter asked; null: none known. */
  voterDirectoryId?: string | null;
}

/** A voter as the leader knows it: its id and directory id (KIP-853's replica key). */
export interface VoterDirectory {
  id: string;
  directoryId: string;
}
// VoteResponse: epoch int32, granted int8, leader_id nullable string
export interface VoteResponse {
  epoch: number;
  granted: boolean;
  /** The leader the voter follows in `epoch`, if it knows one (KIP-595): a node that lost track (restarted, wiped) finds it so. */
  leaderId: string | null;
}
// BeginQuorumEpoch and EndQuorumEpoch (a leader stopping cleanly resigns its epoch):
//   leader_id string, epoch int32 -> epoch int32
export interface BeginQuorumEpochRequest {
  leaderId: string;
  epoch: number;
}
// Fetch: replica_id string, epoch int32, last_epoch int32, last_seq int64, max_wait_ms int32, max_bytes int32,
//   replica_directory_id nullable string (absent from an older node's request)
export interface FetchRequest {
  replicaId: string;
  epoch: number;
  /** The follower's last entry, fsynced: what it holds. */
  last: EntryPosition;
  maxWaitMs: number;
  maxBytes: number;
  /** The fetching replica's directory id (KIP-853); null: not sent. */
  directoryId?: string | null;
}
// FetchResponse: error int16, epoch int32, leader_id nullable string, commit_seq int64,
//   diverging_epoch int32, diverging_end_seq int64 (seq -1: none; epoch -1 with seq 0: the follower diverges from its first entry),
//   [entries: seq int64, epoch int32, topic string, partition int32, batch bytes],
//   [log_starts: topic string, partition int32, log_start_offset int64]
//   (log_starts: the leader's log start of each partition among the entries, as Kafka's Fetch
//   answers log_start_offset per partition; absent from an older leader's answer),
//   [voters: id string, directory_id string] (the voter directories the leader knows; absent from an older leader's answer)
export interface FetchResponse {
  error: number;
  epoch: number;
  leaderId: string | null;
  commitSeq: number;
  /** Where the follower's last epoch ends on the leader, when the follower's tail diverges (KIP-101/595). */
  diverging: EntryPosition | null;
  entries: StoredEntry[];
  /** The leader's log start offset of each partition among `entries`, read after them: a follower behind it begins there (BatchStore.appendEntries). */
  logStarts?: LogStartOffset[];
  /** The voters' directory ids as the leader knows them, itself included (voter-directories.ts). */
  voters?: VoterDirectory[];
}

export function writeRequestHeader(w: Writer, apiKey: number, correlationId: number): Writer {
  return w.int16(apiKey).int16(0).int32(correlationId);
}

export function encodeVote(w: Writer, r: VoteRequest): Writer {
  return w.string(r.candidateId, false).int32(r.epoch).int32(r.last.epoch).int64(r.last.seq).bool(r.preVote).string(r.candidateDirectoryId ?? null, false).string(r.voterDirectoryId ?? null, false);
}
export function decodeVote(r: Reader): VoteRequest {
  const vote: VoteRequest = { candidateId: r.string(false), epoch: r.int32(), last: { epoch: r.int32(), seq: r.int64() }, preVote: r.bool() };
  if (r.remaining > 0) {
    vote.candidateDirectoryId = r.nullableString(false);
    vote.voterDirectoryId = r.nullableString(false);
  }
  return vote;
}
export function encodeVoteResponse(w: Writer, v: VoteResponse): Writer {
  return w.int32(v.epoch).bool(v.granted).string(v.leaderId, false);
}
export function decodeVoteResponse(r: Reader): VoteResponse {
  return { epoch: r.int32(), granted: r.bool(), leaderId: r.nullableString(false) };
}

export function encodeBeginQuorumEpoch(w: Writer, b: BeginQuorumEpochRequest): Writer {
  return w.string(b.leaderId, false).int32(b.epoch);
}
export function decodeBeginQuorumEpoch(r: Reader): BeginQuorumEpochRequest {
  return { leaderId: r.string(false), epoch: r.int32() };
}
export function encodeEpochResponse(w: Writer, epoch: number): Writer {
  return w.int32(epoch);
}
export function decodeEpochResponse(r: Reader): number {
  return r.int32();
}

export function encodeFetch(w: Writer, f: FetchRequest): Writer {
  return w.string(f.replicaId, false).int32(f.epoch).int32(f.last.epoch).int64(f.last.seq).int32(f.maxWaitMs).int32(f.maxBytes).string(f.directoryId ?? null, false);
}
export function decodeFetch(r: Reader): FetchRequest {
  const fetch: FetchRequest = { replicaId: r.string(false), epoch: r.int32(), last: { epoch: r.int32(), seq: r.int64() }, maxWaitMs: r.int32(), maxBytes: r.int32() };
  if (r.remaining > 0) fetch.directoryId = r.nullableString(false);
  return fetch;
}

/** The voter directories closing a fetch answer (a data node's and a witness's). */
export function encodeVoters(w: Writer, voters: readonly VoterDirectory[] | undefined): Writer {
  return w.array(voters ?? [], false, (out, v) => {
    out.string(v.id, false).string(v.directoryId, false);
  });
}
/** Absent (an older leader's answer): an empty list. */
export function decodeVoters(r: Reader): VoterDirectory[] {
  return r.remaining > 0 ? r.array(false, (v) => ({ id: v.string(false), directoryId: v.string(false) })) : [];
}

/** The fields a fetch answer starts with, a data node's and a witness's header fetch alike (witness-messages.ts). */
export type FetchAnswerHead = Pick<FetchResponse, 'error' | 'epoch' | 'leaderId' | 'commitSeq' | 'diverging'>;

/** Writes the head; no divergence is seq -1 (epoch -1 with seq 0 is a divergence from the first entry). */
export function encodeFetchHead(w: Writer, f: FetchAnswerHead): Writer {
  return w.int16(f.error).int32(f.epoch).string(f.leaderId, false).int64(f.commitSeq).int32(f.diverging?.epoch ?? -1).int64(f.diverging?.seq ?? -1);
}

export function decodeFetchHead(r: Reader): FetchAnswerHead {
  const error = r.int16();
  const epoch = r.int32();
  const leaderId = r.nullableString(false);
  const commitSeq = r.int64();
  const divergingEpoch = r.int32();
  const divergingSeq = r.int64();
  return { error, epoch, leaderId, commitSeq, diverging: divergingSeq === -1 ? null : { epoch: divergingEpoch, seq: divergingSeq } };
}

/** The entries' batches go to the socket as stored (Writer keeps large runs as their own chunks). */
export function encodeFetchResponse(w: Writer, f: FetchResponse): Writer {
  encodeFetchHead(w, f);
  w.array(f.entries, false, (out, e) => {
    out.int64(e.seq).int32(e.epoch).string(e.topic, false).int32(e.partition).int32(e.batch.length).bytes(e.batch);
  });
  w.array(f.logStarts ?? [], false, (out, s) => {
    out.string(s.topic, false).int32(s.partition).int64(s.logStartOffset);
  });
  return encodeVoters(w, f.voters);
}
export function decodeFetchResponse(r: Reader): FetchResponse {
  const head = decodeFetchHead(r);
  const entries = r.array(false, (e) => ({ seq: e.int64(), epoch: e.int32(), topic: e.string(false), partition: e.int32(), batch: e.nullableBytes(false) ?? Buffer.alloc(0) }));
  const logStarts = r.remaining > 0 ? r.array(false, (s) => ({ topic: s.string(false), partition: s.int32(), logStartOffset: s.int64() })) : [];
  return { ...head, entries, logStarts, voters: decodeVoters(r) };
}

export { Reader, Writer };
