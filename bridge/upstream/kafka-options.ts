// The connection options every Kafka client of the forwarder shares: brokers, TLS, SASL, timeouts.
// Retries inside the client are few (8) on purpose: the forwarder owns the backoff between attempts,
// so that an outage shows up in its status instead of hiding in a client's retry loop.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { BaseOptions } from '@platformatic/kafka';
import { TlsInvalidError } from '../net/errors.js';
import type { Config } from '../config/schema.js';

export type UpstreamConfig = NonNullable<Config['upstream']>;

export function kafkaBaseOptions(config: UpstreamConfig, clientId: string): BaseOptions {
  const options: BaseOptions = {
    clientId,
    bootstrapBrokers: config.brokers,
    connectTimeout: Math.min(config.requestTimeout, 5_000),
    requestTimeout: config.requestTimeout,
    timeout: config.requestTimeout,
    retries: 8,
    retryDelay: retryDelay,
  };
  if (config.tls.enabled) options.tls = tlsOptions(config.tls);
  if (config.sasl.mechanism !== null) {
    options.sasl = { mechanism: config.sasl.mechanism, username: config.sasl.username, password: config.sasl.password };
  }
  return options;
}

/**
 * Between a transaction's commit and the next transaction's AddPartitionsToTxn, Kafka answers
 * CONCURRENT_TRANSACTIONS until the commit markers are written (a few ms); retrying that after the
 * general delay would add 200 ms to every transaction (the Java client special-cases it too). At
 * 10k msg/s about 40% of the transactions meet it, so its first retry comes after 1 ms: starting
 * at 5 ms cost 3 ms of median end-to-end latency. The same answer to InitProducerId after a crash
 * lasts until the previous transaction's markers are all written, which can take longer: the
 * delay triples (1, 3, 9, ... 2187 ms: 3.3 s over the 8 retries) before the connect fails and the
 * forwarder's own backoff takes over.
 */
function retryDelay(_client: unknown, _operation: string, attempt: number, _retries: number, error: Error): number {
  const concurrent = (error as { findBy?: (property: string, value: unknown) => unknown }).findBy?.('apiId', 'CONCURRENT_TRANSACTIONS');
  return concurrent ? 3 ** Math.max(0, attempt - 1) : 200;
}

function tlsOptions(tls: UpstreamConfig['tls']): TlsOptions {
  const read = (file: string | null): Buffer | undefined => {
    if (file === null) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new TlsInvalidError(file, `cannot read it (upstream.tls): ${(err as Error).message}`, { cause: err });
    }
  };
  const options: TlsOptions = {};
  const ca = read(tls.ca);
  const cert = read(tls.cert);
  const key = read(tls.key);
  if (ca !== undefined) options.ca = ca;
  if (cert !== undefined) options.cert = cert;
  if (key !== undefined) options.key = key;
  if (tls.serverName !== null) options.servername = tls.serverName;
  return options;
}
