// The PEM files of a TLS listener (MQTT's mqtt.tls, the Kafka endpoint's kafka.tls): read and
// checked at start, so that a missing file or a key that does not match its certificate stops the
// node with an error naming the file, not the first client's handshake.
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { TlsInvalidError } from './errors.js';

export interface TlsFiles {
  cert: string;
  key: string;
  ca: string | null;
}

export function loadTlsFiles(tls: TlsFiles): { cert: Buffer; key: Buffer; ca?: Buffer } {
  const read = (file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new TlsInvalidError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message, { cause: err });
    }
  };
  const files = { cert: read(tls.cert), key: read(tls.key), ...(tls.ca === null ? {} : { ca: read(tls.ca) }) };
  try {
    createSecureContext(files);
  } catch (err) {
    // OpenSSL names the problem (bad PEM, key does not match the certificate) but not the file.
    const file = /key/i.test((err as Error).message) ? tls.key : /ca|issuer/i.test((err as Error).message) && tls.ca !== null ? tls.ca : tls.cert;
    throw new TlsInvalidError(file, (err as Error).message, { cause: err });
  }
  return files;
}

/** Mutual TLS's files (cluster.tls of a data node or a witness), whose CA is required: all three read and checked. */
export function loadMutualTlsFiles(tls: { cert: string; key: string; ca: string }): { cert: Buffer; key: Buffer; ca: Buffer } {
  return loadTlsFiles(tls) as { cert: Buffer; key: Buffer; ca: Buffer };
}
