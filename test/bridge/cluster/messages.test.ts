// The replication messages' grammar (bridge/cluster/messages.ts), encoded and decoded as the
// listener and a peer do: a Fetch answer carries the leader's log start of each partition among its
// entries, and an answer without them (a leader of an earlier version) still decodes, with none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFetchResponse, encodeFetchResponse, NONE, Reader, Writer, type FetchResponse } from '../../../bridge/cluster/messages.js';
import { decodeHeadersResponse, encodeHeadersResponse } from '../../../bridge/cluster/witness-messages.js';

const answer: FetchResponse = {
  error: 0,
  epoch: 4,
  leaderId: 'n1',
  commitSeq: 9,
  diverging: null,
  entries: [{ seq: 10, epoch: 4, topic: 'mqtt', partition: 1, batch: Buffer.from('batch bytes') }],
  logStarts: [{ topic: 'mqtt', partition: 1, logStartOffset: 362 }],
};

test('a Fetch answer carries the leader log starts after its entries; one without them decodes with none', () => {
  const bytes = Buffer.concat(encodeFetchResponse(new Writer(), answer).chunks());
  assert.deepEqual(decodeFetchResponse(new Reader(bytes)), answer);
  const older = Buffer.concat(encodeFetchResponse(new Writer(), { ...answer, logStarts: [] }).chunks());
  const withoutField = older.subarray(0, older.length - 4); // an empty array is its int32 count
  assert.deepEqual(decodeFetchResponse(new Reader(withoutField)), { ...answer, logStarts: [] });
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
