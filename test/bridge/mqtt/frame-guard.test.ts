import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { Aedes } from 'aedes';
import mqttPacket from 'mqtt-packet';
import { clientOf } from '../../../bridge/mqtt/aedes-internals.js';
import { FrameScanner, MalformedLengthError, NotConnectError, PacketTooLargeError, guardConnection, packetLength, type StreamIntake } from '../../../bridge/mqtt/frame-guard.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { RawMqtt } from '../../helpers/raw-mqtt.js';
import { waitFor } from '../../helpers/wait-for.js';

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

/** An intake that takes every QoS 1 PUBLISH (and answers it) and leaves every other packet to aedes. */
class PublishTaker implements StreamIntake {
  readonly taken: number[] = [];
  constructor(private readonly socket: Socket) {}
  refuseRead(): boolean {
    return false;
  }
  active(): boolean {
    return clientOf(this.socket)?.connected === true;
  }
  take(chunk: Buffer): Buffer | null {
    let at = 0;
    let aedesFrom = -1;
    for (let length = packetLength(chunk, at, 1 << 20); length > 0; at += length, length = packetLength(chunk, at, 1 << 20)) {
      if (aedesFrom < 0 && chunk[at]! >> 4 === 3) {
        const id = chunk.readUInt16BE(at + length - 4); // a 2-byte payload follows the packet id
        this.taken.push(id);
        this.socket.write(Buffer.from([0x40, 2, id >> 8, id & 0xff]));
      } else if (aedesFrom < 0) aedesFrom = at;
    }
    assert.equal(at, chunk.length, 'whole packets in each read');
    return aedesFrom < 0 ? null : chunk.subarray(aedesFrom);
  }
}

test('a read the intake takes whole while aedes waits never goes through the stream: no readable event, no aedes read; what it leaves reaches aedes in order', async (t) => {
  const aedes = await Aedes.createBroker();
  let taker: PublishTaker | undefined;
  let readables = 0;
  const server = createServer((socket) => {
    taker = new PublishTaker(socket);
    socket.on('readable', () => readables++);
    aedes.handle(guardConnection(socket, { maxRemainingLength: 1 << 20, maxConnectLength: 1 << 16 }, taker));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(t, () => new Promise<void>((resolve) => aedes.close(() => server.close(() => resolve()))));
  const raw = await RawMqtt.open((server.address() as AddressInfo).port);
  t.after(() => raw.destroy());
  await raw.connect('device');
  const publish = (id: number): mqttPacket.Packet => ({ cmd: 'publish', topic: 'plant/line-1', payload: Buffer.from('m1'), qos: 1, messageId: id, dup: false, retain: false });

  // The first read after CONNACK turns the intake on, through aedes's read.
  raw.send(publish(1));
  await raw.next('puback', 1);
  const before = readables;
  // One PUBLISH per read, each answered before the next is sent: a device sending now and then.
  for (let id = 2; id <= 21; id++) {
    raw.send(publish(id));
    await raw.next('puback', id);
  }
  assert.equal(readables - before, 0, 'reads taken whole by the intake made no readable event');

  // A read with a PUBLISH, then packets for aedes: the PUBLISH is taken at once, the rest is aedes's.
  raw.send(publish(22), { cmd: 'pingreq' }, publish(23), { cmd: 'subscribe', messageId: 24, subscriptions: [{ topic: 'x/y', qos: 0 }] });
  await raw.next('pingresp');
  await raw.next('suback', 24);
  await waitFor(() => taker!.taken.length === 22, 'the PUBLISH before the PINGREQ taken');
  assert.deepEqual(taker!.taken, Array.from({ length: 22 }, (_, i) => i + 1), 'the intake took the PUBLISHes before any packet for aedes, and none after it in the same read');
  // aedes handled the PUBLISH after the PINGREQ (its own PUBACK), and reads on after that.
  await raw.next('puback', 23);
  raw.send(publish(25));
  await raw.next('puback', 25);
  assert.equal(taker!.taken.at(-1), 25, 'the intake takes again once aedes has read everything');
});
