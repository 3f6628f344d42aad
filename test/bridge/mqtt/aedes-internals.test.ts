// Each aedes internal the MQTT part relies on (bridge/mqtt/aedes-internals.ts), tried on a real aedes
// broker on a real socket with a real MQTT.js client: an aedes upgrade that renames or moves one of
// them fails here, naming it, instead of quietly turning a check off.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { Aedes, type Client } from 'aedes';
import {
  AEDES_CHECKED_VERSION,
  awaitsBytes,
  clientOf,
  isAuthorized,
  keepAliveRefresh,
  messageEmitter,
  parserOf,
  topicAliases,
  topicAliasMaximum,
  willOf,
  wrapPublish,
  wrapPublishWill,
  wrapWipeSession,
  type BrokerPublish,
} from '../../../bridge/mqtt/aedes-internals.js';
import { LiveSubscriptions } from '../../../bridge/mqtt/live-subscriptions.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { connect } from '../../helpers/mqtt-node.js';
import { waitFor } from '../../helpers/wait-for.js';

const change = 'aedes-internals.ts must be checked again against this aedes';

test('the installed aedes is the version aedes-internals.ts was checked against', () => {
  const require = createRequire(import.meta.url);
  const { version } = JSON.parse(readFileSync(join(dirname(require.resolve('aedes')), 'package.json'), 'utf8')) as { version: string };
  assert.equal(version, AEDES_CHECKED_VERSION, `aedes is ${version}: ${change}, then AEDES_CHECKED_VERSION updated`);
});

test('each aedes internal is where aedes-internals.ts reads it', async (t) => {
  const atAuthenticate: Array<{ authorized: boolean; will: { topic: string } | null }> = [];
  const aedes = await Aedes.createBroker({
    authenticate: (client, _username, _password, done) => {
      atAuthenticate.push({ authorized: isAuthorized(client), will: willOf(client) });
      done(null, true);
    },
  });
  const calls: Array<{ topic: string; clientId: string | null }> = [];
  wrapPublish(aedes, (publish: BrokerPublish): BrokerPublish => (packet, client, done) => {
    if (!packet.topic.startsWith('$SYS')) calls.push({ topic: packet.topic, clientId: client?.id ?? null });
    publish(packet, client, done);
  });
  const willsPublished: string[] = [];
  wrapPublishWill(aedes, (publishWill) => (client, will) => {
    willsPublished.push(`${client.id} ${will.topic}`);
    publishWill(client, will);
  });
  const live = LiveSubscriptions.watch(messageEmitter(aedes));
  const clients: Client[] = [];
  aedes.on('client', (client) => clients.push(client));
  const server = createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(t, () => new Promise<void>((resolve) => aedes.close(() => server.close(() => resolve()))));
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const mqtt = await connect(t, url, { clientId: 'probe', keepalive: 30, will: { topic: 'wills/probe', payload: Buffer.from('gone'), qos: 0, retain: false } });
  await waitFor(() => clients.length === 1);
  const client = clients[0]!;

  // _will and _authorized, as the authenticate hook sees them.
  assert.deepEqual(atAuthenticate.map((a) => a.authorized), [false], `client._authorized is not false before authenticate accepts: ${change}`);
  assert.equal(atAuthenticate[0]!.will?.topic, 'wills/probe', `client._will does not hold the CONNECT's will at authenticate: ${change}`);
  assert.equal(isAuthorized(client), true, `client._authorized is not true once connected: ${change}`);

  // conn.client
  assert.equal(clientOf(client.conn as never), client, `the connection's .client is not the aedes client: ${change}`);

  // _keepaliveInterval and _keepaliveTimer
  const timer = (client as unknown as { _keepaliveTimer: NodeJS.Timeout | null })._keepaliveTimer;
  assert.ok(timer !== null && typeof timer?.refresh === 'function', `client._keepaliveTimer is not a timer: ${change}`);
  let refreshed = 0;
  const refresh = timer.refresh.bind(timer);
  timer.refresh = () => {
    refreshed++;
    return refresh();
  };
  keepAliveRefresh(client);
  assert.equal(refreshed, 1, `keepAliveRefresh did not refresh the keep-alive timer (client._keepaliveInterval): ${change}`);

  // _paused, _parsingBatch: a connected client with nothing to handle waits for bytes; paused, it does not.
  await waitFor(() => awaitsBytes(client), `a connected, idle client never awaits bytes (client._paused, _parsingBatch): ${change}`);
  const pausable = client as unknown as { pause(): void; resume(): void }; // lib/client.js, untyped
  pausable.pause();
  assert.equal(awaitsBytes(client), false, `a paused client awaits bytes (client._paused): ${change}`);
  pausable.resume();
  assert.equal(awaitsBytes(client), true, `a resumed client does not await bytes (client._parsingBatch): ${change}`);

  // _parser and the methods protocol-checks.ts wraps
  const parser = parserOf(client);
  for (const method of ['_parseString', '_parseMessageId', '_parseUnsubscribe', '_emitError'] as const) {
    assert.equal(typeof parser?.[method], 'function', `client._parser.${method} is not a function: ${change}`);
  }
  assert.equal(typeof parser._pos, 'number', `client._parser._pos is not a number: ${change}`);
  assert.equal(typeof parser._list?.slice, 'function', `client._parser._list has no slice(): ${change}`);

  // aedes.mq: a subscription goes through its on()
  assert.equal(live.hasSubscriber('probe/a'), false);
  await mqtt.subscribeAsync('probe/+');
  assert.equal(live.hasSubscriber('probe/a'), true, `a subscription did not go through aedes.mq.on(): ${change}`);

  // aedes.publish: called with the publishing client, and by the broker without one
  await mqtt.publishAsync('probe/a', 'x', { qos: 1 });
  await new Promise<void>((resolve) => aedes.publish({ cmd: 'publish', topic: 'probe/b', payload: Buffer.from('y'), qos: 0, retain: false, dup: false }, () => resolve()));
  assert.deepEqual(
    calls,
    [
      { topic: 'probe/a', clientId: 'probe' },
      { topic: 'probe/b', clientId: null },
    ],
    `aedes.publish is not called as (packet, client, done): ${change}`,
  );

  // aedes.publishWill: a connection lost without DISCONNECT publishes its will through it
  mqtt.stream.destroy();
  await waitFor(() => willsPublished.length > 0);
  assert.deepEqual(willsPublished, ['probe wills/probe'], `a will is not published through aedes.publishWill(client, will): ${change}`);
});

test('the MQTT 5.0 inbound topic aliases are where aedes-internals.ts reads them (the fast path shares them with aedes)', async (t) => {
  const aedes = await Aedes.createBroker({ topicAliasMaximum: 5 } as Parameters<typeof Aedes.createBroker>[0]);
  const clients: Client[] = [];
  aedes.on('client', (client) => clients.push(client));
  const server = createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(t, () => new Promise<void>((resolve) => aedes.close(() => server.close(() => resolve()))));
  const mqtt = await connect(t, `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, { clientId: 'alias-probe', protocolVersion: 5 });
  await waitFor(() => clients.length === 1);
  const client = clients[0]!;
  assert.equal(topicAliasMaximum(client), 5, `client.broker.topicAliasMaximum is not the broker's option: ${change}`);
  await mqtt.publishAsync('probe/aliased', 'x', { qos: 1, properties: { topicAlias: 2 } });
  assert.equal(topicAliases(client).get(2), 'probe/aliased', `client._topicAliases does not map an alias set by a PUBLISH to its topic: ${change}`);
  // That an alias set there by the fast path names the topic of a publish aedes handles: fast-path.test.ts.
});

test('aedes._wipeSession is where aedes-internals.ts wraps it: an MQTT 5.0 session ending goes through it', async (t) => {
  const aedes = await Aedes.createBroker();
  const wiped: string[] = [];
  wrapWipeSession(aedes, (wipe) => (client) => {
    wiped.push(client.id);
    wipe(client);
  });
  const server = createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(t, () => new Promise<void>((resolve) => aedes.close(() => server.close(() => resolve()))));
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Session Expiry Interval 0: the session ends with the connection, wiped at once.
  const mqtt = await connect(t, url, { clientId: 'wipe-probe', protocolVersion: 5, properties: { sessionExpiryInterval: 0 } });
  await mqtt.endAsync();
  await waitFor(() => wiped.length > 0, 'the wipe');
  assert.deepEqual(wiped, ['wipe-probe'], `an ending v5 session is not wiped through aedes._wipeSession(client): ${change}`);
});
