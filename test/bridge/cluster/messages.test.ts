// The replication messages' encoding (bridge/cluster/messages.ts): a Fetch answer carries the
// leader's log start of each partition among its entries, and an answer without them (a leader of
// an earlier version) still decodes, with none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeFetchResponse, encodeFetchResponse, Reader, Writer, type FetchResponse } from '../../../bridge/cluster/messages.js';

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
