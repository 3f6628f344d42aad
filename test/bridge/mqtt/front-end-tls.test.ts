// MQTT over TLS with certificates made by openssl for the test: server authentication, required
// client certificates, and a clear start-up error for a bad key.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TlsInvalidError } from '../../../bridge/net/errors.js';
import { connect, connectionRefusal, startTestNode } from '../../helpers/mqtt-node.js';
import { makePki } from '../../helpers/pki.js';
import { tempDir } from '../../helpers/temp-dir.js';

test('MQTT over TLS: publishes land in the log; a required client certificate is enforced', async (t) => {
  const pki = makePki(t);
  const { node } = await startTestNode(t, {
    mqtt: { tls: { port: 0, cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, clientCertificates: 'require' } },
  });
  const url = `mqtts://127.0.0.1:${node.mqtt.ports.tls}`;
  const ca = readFileSync(pki.ca);
  const withCert = await connect(t, url, { clientId: 'sensor-9', ca, cert: readFileSync(pki.clientCert), key: readFileSync(pki.clientKey) });
  await withCert.publishAsync('secure/line/1', 'encrypted', { qos: 1 });
  assert.deepEqual(node.log.read('mqtt', 0, 0).records.map((r) => r.value!.toString()), ['encrypted']);

  assert.notEqual(await connectionRefusal(url, { clientId: 'no-cert', ca }), 'connected', 'no client certificate, no connection');
  assert.notEqual(await connectionRefusal(url, { clientId: 'no-trust', rejectUnauthorized: true }), 'connected', 'the client checks the server too');
});

test('a TLS key that does not belong to the certificate stops start-up with TRIB_TLS_INVALID naming the file', async (t) => {
  const pki = makePki(t);
  await assert.rejects(
    startTestNode(t, { mqtt: { tls: { port: 0, cert: pki.serverCert, key: pki.clientKey } } }),
    (err: unknown) => err instanceof TlsInvalidError && err.code === 'TRIB_TLS_INVALID' && err.message.includes(pki.clientKey),
  );
  await assert.rejects(
    startTestNode(t, { mqtt: { tls: { port: 0, cert: join(tempDir(t), 'missing.pem'), key: pki.serverKey } } }),
    (err: unknown) => err instanceof TlsInvalidError && /missing\.pem': no such file/.test(err.message),
  );
});
