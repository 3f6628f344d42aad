// The Kafka listener over TLS (kafka.tls) at the byte level: a request over TLS is answered; a
// connection that never finishes its handshake counts against kafka.maxConnections (so a flood of
// them cannot take the node's file descriptors), and a PEM file that cannot be read stops start-up
// naming it. Real clients over TLS: test/integration/kafka-security.test.ts.
import assert from 'node:assert/strict';
import { connect as connectTcp, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { readFileSync } from 'node:fs';
import { Log } from '../../../broker/log/log.js';
import { KafkaServer } from '../../../bridge/kafka/server.js';
import { createLogger } from '../../../bridge/logger.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { makePki, type Pki } from '../../helpers/pki.js';
import { frame } from '../../helpers/raw-kafka.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { waitFor } from '../../helpers/wait-for.js';

async function startTlsServer(t: TestContext, pki: Pki, maxConnections = 10): Promise<KafkaServer> {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'mqtt', partitions: 1 }] });
  onCleanup(t, () => log.close());
  const server = await KafkaServer.start({
    host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections, clusterId: 'test', log,
    logger: createLogger('silent'),
    tls: { cert: pki.serverCert, key: pki.serverKey, ca: null, clientCertificates: 'none' },
  });
  onCleanup(t, () => server.close());
  return server;
}

/** ApiVersions v0 over TLS: the correlation id and error code of the answer. */
async function apiVersionsOverTls(t: TestContext, port: number, ca: string): Promise<{ correlationId: number; error: number }> {
  const socket = connectTls({ host: '127.0.0.1', port, ca: readFileSync(ca) });
  onCleanup(t, () => socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  const header = Buffer.alloc(10);
  header.writeInt16BE(18, 0);
  header.writeInt32BE(7, 4);
  header.writeInt16BE(-1, 8);
  socket.write(frame(header));
  const answer = await new Promise<Buffer>((resolve) => {
    let got = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 4 && got.length >= 4 + got.readInt32BE(0)) resolve(got.subarray(4));
    });
  });
  return { correlationId: answer.readInt32BE(0), error: answer.readInt16BE(4) };
}

test('kafka.tls: requests are answered over TLS; TCP connections still in their handshake count against kafka.maxConnections', async (t) => {
  const pki = makePki(t);
  const server = await startTlsServer(t, pki, 2);
  assert.deepEqual(await apiVersionsOverTls(t, server.port, pki.ca), { correlationId: 7, error: 0 });
  await waitFor(() => server.stats.connections === 1, 'the TLS connection');

  // A TCP connection that never starts its handshake holds the second slot...
  const silent: Socket = connectTcp({ host: '127.0.0.1', port: server.port });
  onCleanup(t, () => silent.destroy());
  await new Promise<void>((resolve) => silent.once('connect', resolve));
  // ...so a third is closed at once, before any handshake.
  const third: Socket = connectTcp({ host: '127.0.0.1', port: server.port });
  third.on('error', () => undefined);
  await new Promise<void>((resolve) => third.once('close', () => resolve()));
  assert.equal(server.stats.refused, 1);
});

test('kafka.tls: a certificate file that cannot be read stops start-up with TRIB_TLS_INVALID naming it', async (t) => {
  const log = await Log.open({ dataDir: tempDir(t), topics: [{ name: 'mqtt', partitions: 1 }] });
  onCleanup(t, () => log.close());
  await assert.rejects(
    KafkaServer.start({
      host: '127.0.0.1', port: 0, advertisedHost: null, advertisedPort: null, maxRequestSize: 64 * 1024, maxConnections: 10, clusterId: 'test', log,
      logger: createLogger('silent'),
      tls: { cert: 'no-such-cert.pem', key: 'no-such-key.pem', ca: null, clientCertificates: 'none' },
    }),
    { code: 'TRIB_TLS_INVALID', message: /no-such-cert\.pem.*no such file/ },
  );
});
