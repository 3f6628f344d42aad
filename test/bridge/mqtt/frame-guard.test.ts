import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { FrameScanner, MalformedLengthError, NotConnectError, PacketTooLargeError } from '../../../bridge/mqtt/frame-guard.js';

const CONNECT = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 60 });

/** A scanner past a connection's CONNECT, as every packet after the first is scanned. */
const connected = (maxRemainingLength: number): FrameScanner => {
  const scanner = new FrameScanner(maxRemainingLength);
  scanner.scan(CONNECT);
  return scanner;
};

const publish = (bytes: number): Buffer =>
  mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(bytes), qos: 1, messageId: 1, dup: false, retain: false });

test('follows packet boundaries however the stream is cut', () => {
  const stream = Buffer.concat([publish(0), publish(127), publish(128), publish(20_000), mqttPacket.generate({ cmd: 'pingreq' })]);
  for (const step of [1, 2, 3, 7, 64, 1000, stream.length]) {
    const scanner = connected(20_000 + 5);
    for (let i = 0; i < stream.length; i += step) scanner.scan(stream.subarray(i, i + step));
    // A following oversized packet is caught, so the scanner ended exactly on a boundary.
    assert.throws(() => scanner.scan(publish(30_000).subarray(0, 5)), PacketTooLargeError, `step ${step}`);
  }
});

test('refuses a packet by its announced length before its body arrives', () => {
  const scanner = connected(1024);
  scanner.scan(publish(1000));
  const big = publish(2000);
  assert.throws(() => scanner.scan(big.subarray(0, 3)), (err: unknown) => err instanceof PacketTooLargeError && err.limit === 1024);
});

test('a Remaining Length of more than 4 bytes is malformed [MQTT-2.2.3]', () => {
  const scanner = connected(Number.MAX_SAFE_INTEGER);
  assert.throws(() => scanner.scan(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), MalformedLengthError);
});

test('the first packet must be a CONNECT [MQTT-3.1.0-1], and may announce at most maxConnectLength', () => {
  assert.throws(() => new FrameScanner(1 << 20, 1024).scan(publish(10)), NotConnectError);
  assert.throws(() => new FrameScanner(1 << 20, 1024).scan(mqttPacket.generate({ cmd: 'pingreq' })), NotConnectError);
  // A CONNECT announcing a megabyte is refused from its first bytes, before its body is held.
  const big = Buffer.from([0x10, 0x80, 0x80, 0x40]);
  assert.throws(() => new FrameScanner(1 << 21, 65_536).scan(big), (err: unknown) => err instanceof PacketTooLargeError && err.limit === 65_536);
  // After it, packets may be as large as any packet.
  const scanner = new FrameScanner(1 << 20, 1024);
  scanner.scan(CONNECT);
  scanner.scan(publish(100_000));
  assert.equal(scanner.packets, 2);
});
