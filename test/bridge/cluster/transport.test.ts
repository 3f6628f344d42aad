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

test('answers larger than a socket read, several in flight at once, each reach their request byte for byte (the connection reads into one buffer it reuses)', async (t) => {
  const server = await ReplicationServer.start({
    host: '127.0.0.1',
    port: 0,
    maxBytes: 1 << 20,
    logger: pino({ level: 'silent' }),
    // Answers `size` bytes, each the request's tag.
    handler: (_apiKey, body) => {
      const tag = body.int32();
      const size = body.int32();
      return Promise.resolve(new Writer().int32(tag).int32(size).bytes(Buffer.alloc(size, tag)));
    },
  });
  t.after(() => server.close());
  const peer = new PeerConnection('p', '127.0.0.1', server.port, 1 << 20);
  t.after(() => peer.close());
  const sizes = [300_000, 10, 70_000, 65_536, 1, 200_000, 4096, 900_000];
  for (let round = 0; round < 3; round++) {
    const answers = await Promise.all(sizes.map((size, i) => peer.request(1, new Writer().int32(i + 1).int32(size), 30_000)));
    answers.forEach((answer, i) => {
      assert.equal(answer.int32(), i + 1);
      const bytes = answer.nullableBytes(false)!;
      assert.equal(bytes.length, sizes[i]);
      assert.ok(bytes.every((b) => b === i + 1), `answer ${i + 1} of round ${round} intact`);
    });
  }
});
