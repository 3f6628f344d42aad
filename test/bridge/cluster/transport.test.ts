// The replication transport: requests matched to answers over one connection per peer, made again
// after it drops (a timed-out request drops it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { PeerConnection, ReplicationServer } from '../../../bridge/cluster/transport.js';
import { Writer } from '../../../bridge/cluster/messages.js';

test('a request sent right after another timed out is answered (the dropped connection closing late does not take the new one with it)', async (t) => {
  let calls = 0;
  const server = await ReplicationServer.start({
    host: '127.0.0.1',
    port: 0,
    maxBytes: 1 << 20,
    logger: pino({ level: 'silent' }),
    // The first request is never answered; the others at once.
    handler: () => (++calls === 1 ? new Promise<Writer>(() => undefined) : Promise.resolve(new Writer().int32(42))),
  });
  t.after(() => server.close());
  const peer = new PeerConnection('p', '127.0.0.1', server.port, 1 << 20);
  t.after(() => peer.close());
  const second = await peer.request(1, new Writer(), 100).then(
    () => assert.fail('the first request was answered'),
    () => peer.request(1, new Writer(), 30_000),
  );
  assert.equal(second.int32(), 42);
});
