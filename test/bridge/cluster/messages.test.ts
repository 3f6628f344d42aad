// The replication messages' grammar (bridge/cluster/messages.ts), encoded and decoded as the
// listener and a peer do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFetchResponse, encodeFetchResponse, NONE, Reader, Writer, type FetchResponse } from '../../../bridge/cluster/messages.js';
import { decodeHeadersResponse, encodeHeadersResponse } from '../../../bridge/cluster/witness-messages.js';

const answer = (diverging: FetchResponse['diverging']): FetchResponse => ({ error: NONE, epoch: 2, leaderId: 'n2', commitSeq: 1, diverging, entries: [] });

test('a fetch answer keeps a divergence from the follower\'s first entry (epoch -1, seq 0: the leader holds nothing of its epochs) apart from none', () => {
  for (const diverging of [null, { epoch: -1, seq: 0 }, { epoch: 1, seq: 7 }]) {
    const data = Buffer.concat(encodeFetchResponse(new Writer(), answer(diverging)).chunks());
    assert.deepEqual(decodeFetchResponse(new Reader(data)).diverging, diverging);
    const headers = Buffer.concat(encodeHeadersResponse(new Writer(), answer(diverging)).chunks());
    assert.deepEqual(decodeHeadersResponse(new Reader(headers)).diverging, diverging, 'the witness\'s header answer');
  }
});
