// The replication transport: requests matched to answers over one connection per peer, made again
// after it drops (a timed-out request drops it).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import pino from 'pino';
import { makeNamedPki } from '../../helpers/pki.js';
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

/** A pino logger whose lines (parsed) land in `lines`. */
function capture(lines: Record<string, unknown>[]): pino.Logger {
  return pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
}

test('a peer whose TLS refuses this node (another CA; a certificate naming another node) is named with the cause in refusal, and each side logs it once per cause, not once per attempt; a peer that answers has none', async (t) => {
  const pki = makeNamedPki(t, ['server', 'client', 'other']);
  const rogue = makeNamedPki(t, ['client']);
  const files = (f: { cert: string; key: string }, ca: string): { cert: Buffer; key: Buffer; ca: Buffer } => ({ cert: readFileSync(f.cert), key: readFileSync(f.key), ca: readFileSync(ca) });
  const serverLines: Record<string, unknown>[] = [];
  const server = await ReplicationServer.start({
    host: '127.0.0.1',
    port: 0,
    maxBytes: 1 << 20,
    logger: capture(serverLines),
    tls: files(pki.certs.server!, pki.ca),
    peerIds: ['client', 'other'],
    handler: () => Promise.resolve(new Writer().int32(42)),
  });
  t.after(() => server.close());
  const refusedLines = (lines: Record<string, unknown>[]): number => lines.filter((l) => l.code === 'TRIB_CLUSTER_PEER_REFUSED').length;
  const attempts = async (peer: PeerConnection, count: number): Promise<void> => {
    for (let i = 0; i < count; i++) await assert.rejects(peer.request(1, new Writer(), 5000));
  };

  // A certificate another CA signed: every attempt fails; one line on each side.
  const clientLines: Record<string, unknown>[] = [];
  const rogueClient = new PeerConnection('server', '127.0.0.1', server.port, 1 << 20, files(rogue.certs.client!, rogue.ca), capture(clientLines));
  t.after(() => rogueClient.close());
  await attempts(rogueClient, 6);
  assert.match(rogueClient.refusal?.cause ?? '', /\S/, 'the refusal has a cause');
  assert.equal(refusedLines(clientLines), 1, JSON.stringify(clientLines));
  assert.equal(refusedLines(serverLines), 1, JSON.stringify(serverLines));

  // The cluster's CA, but the server's certificate names another node than the peer expected: another cause, logged once.
  const wrongName = new PeerConnection('other', '127.0.0.1', server.port, 1 << 20, files(pki.certs.client!, pki.ca), capture(clientLines));
  t.after(() => wrongName.close());
  await attempts(wrongName, 4);
  assert.match(wrongName.refusal?.cause ?? '', /TRIB_CLUSTER_PEER_REFUSED.*names server, not the peer 'other'/);
  assert.equal(refusedLines(clientLines), 2, JSON.stringify(clientLines));

  // A peer that answers: no refusal.
  const good = new PeerConnection('server', '127.0.0.1', server.port, 1 << 20, files(pki.certs.client!, pki.ca), capture(clientLines));
  t.after(() => good.close());
  assert.equal((await good.request(1, new Writer(), 5000)).int32(), 42);
  assert.equal(good.refusal, null);
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
