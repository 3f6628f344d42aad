// MQTT over TLS with certificates made by openssl for the test: server authentication, required
// client certificates, and a clear start-up error for a bad key.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { TlsInvalidError } from '../../../broker/errors.js';
import { connect, connectionRefusal, startTestNode } from '../../helpers/mqtt-node.js';
import { tempDir } from '../../helpers/temp-dir.js';

interface Pki {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function makePki(t: TestContext): Pki {
  const dir = tempDir(t);
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=Tributary test CA');
  writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, subject, ext] of [
    ['server', '/CN=127.0.0.1', ['-extfile', file('san.ext')]],
    ['client', '/CN=sensor-9', []],
  ] as const) {
    openssl('req', ...ec, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', subject);
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-out', file(`${name}.pem`), ...ext);
  }
  return { ca: file('ca.pem'), serverCert: file('server.pem'), serverKey: file('server.key'), clientCert: file('client.pem'), clientKey: file('client.key') };
}

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
