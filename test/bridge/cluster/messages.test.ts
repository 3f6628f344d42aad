// The replication messages' grammar (bridge/cluster/messages.ts), encoded and decoded as the
// listener and a peer do: a Fetch answer carries the leader's log start of each partition among its
// entries, and an answer without them (a leader of an earlier version) still decodes, with none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFetch, decodeFetchResponse, decodeVote, encodeFetch, encodeFetchResponse, encodeVote, NONE, Reader, Writer, type FetchRequest, type FetchResponse, type VoteRequest } from '../../../bridge/cluster/messages.js';
import { decodeHeadersResponse, encodeHeadersResponse } from '../../../bridge/cluster/witness-messages.js';

const answer: FetchResponse = {
  error: 0,
  epoch: 4,
  leaderId: 'n1',
  commitSeq: 9,
  diverging: null,
  entries: [{ seq: 10, epoch: 4, topic: 'mqtt', partition: 1, batch: Buffer.from('batch bytes') }],
  logStarts: [{ topic: 'mqtt', partition: 1, logStartOffset: 362 }],
  voters: [
    { id: 'n1', directoryId: 'dir-1' },
    { id: 'n2', directoryId: 'dir-2' },
  ],
};

test('a Fetch answer carries the leader log starts after its entries; one without them decodes with none', () => {
  const bytes = Buffer.concat(encodeFetchResponse(new Writer(), answer).chunks());
  assert.deepEqual(decodeFetchResponse(new Reader(bytes)), answer);
  const older = Buffer.concat(encodeFetchResponse(new Writer(), { ...answer, logStarts: [], voters: [] }).chunks());
  const withoutField = older.subarray(0, older.length - 8); // an empty array is its int32 count
  assert.deepEqual(decodeFetchResponse(new Reader(withoutField)), { ...answer, logStarts: [], voters: [] });
});

test('directory ids (KIP-853): a vote request carries the candidate\'s and the one it knows for the voter, a fetch the replica\'s, a fetch answer (a data node\'s and a witness\'s) the voter directories; requests and answers of an older node decode without them', () => {
  const vote: VoteRequest = { candidateId: 'n1', epoch: 3, last: { epoch: 2, seq: 40 }, preVote: false, candidateDirectoryId: 'dir-1', voterDirectoryId: null };
  const voteBytes = Buffer.concat(encodeVote(new Writer(), vote).chunks());
  assert.deepEqual(decodeVote(new Reader(voteBytes)), vote);
  const olderVote = voteBytes.subarray(0, voteBytes.length - 2 - 'dir-1'.length - 2); // two int16-length strings, the second null
  assert.deepEqual(decodeVote(new Reader(olderVote)), { candidateId: 'n1', epoch: 3, last: { epoch: 2, seq: 40 }, preVote: false });

  const fetch: FetchRequest = { replicaId: 'n2', epoch: 3, last: { epoch: 2, seq: 40 }, maxWaitMs: 100, maxBytes: 1024, directoryId: 'dir-2' };
  const fetchBytes = Buffer.concat(encodeFetch(new Writer(), fetch).chunks());
  assert.deepEqual(decodeFetch(new Reader(fetchBytes)), fetch);
  const { directoryId: _, ...olderFetch } = fetch;
  assert.deepEqual(decodeFetch(new Reader(fetchBytes.subarray(0, fetchBytes.length - 2 - 'dir-2'.length))), olderFetch);

  const headers = Buffer.concat(encodeHeadersResponse(new Writer(), { ...answer, entries: [] }).chunks());
  assert.deepEqual(decodeHeadersResponse(new Reader(headers)).voters, answer.voters);
  assert.deepEqual(decodeHeadersResponse(new Reader(headers.subarray(0, headers.length - 4 - 2 * (2 + 'n1'.length + 2 + 'dir-1'.length)))).voters, []);
});

const answerDiverging = (diverging: FetchResponse['diverging']): FetchResponse => ({ error: NONE, epoch: 2, leaderId: 'n2', commitSeq: 1, diverging, entries: [], logStarts: [] });

test('a fetch answer keeps a divergence from the follower\'s first entry (epoch -1, seq 0: the leader holds nothing of its epochs) apart from none', () => {
  for (const diverging of [null, { epoch: -1, seq: 0 }, { epoch: 1, seq: 7 }]) {
    const data = Buffer.concat(encodeFetchResponse(new Writer(), answerDiverging(diverging)).chunks());
    assert.deepEqual(decodeFetchResponse(new Reader(data)).diverging, diverging);
    const headers = Buffer.concat(encodeHeadersResponse(new Writer(), answerDiverging(diverging)).chunks());
    assert.deepEqual(decodeHeadersResponse(new Reader(headers)).diverging, diverging, 'the witness\'s header answer');
  }
});
