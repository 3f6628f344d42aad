// Tiny real MQTT servers on loopback for the failover tests of clients that know several
// gateways: one that answers every CONNECT with CONNACK 3 (what a cluster's follower answers), and
// one that accepts connections, takes PUBLISHes and never acknowledges them, then drops the
// connection (a leader that dies with messages in flight). Raw sockets and mqtt-packet's parser.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { onCleanup } from './cleanup.js';

async function listen(t: TestContext, onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number; url: string }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(t, async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { server, port, url: `mqtt://127.0.0.1:${port}` };
}

/** Calls `onPacket` for each MQTT packet a socket sends. */
function packets(socket: Socket, onPacket: (packet: mqttPacket.Packet) => void): void {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on('packet', onPacket);
  parser.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => parser.parse(chunk));
}

/** Answers CONNECT with CONNACK 3, "server unavailable", and closes ([MQTT-3.2.2-5]). Counts the CONNECTs. */
export async function connack3Server(t: TestContext): Promise<{ url: string; port: number; connects: () => number }> {
  let connects = 0;
  const { url, port } = await listen(t, (socket) =>
    packets(socket, (packet) => {
      if (packet.cmd !== 'connect') return;
      connects++;
      socket.end(mqttPacket.generate({ cmd: 'connack', returnCode: 3, sessionPresent: false }));
    }),
  );
  return { url, port, connects: () => connects };
}

/** Accepts, swallows `dropAfter` PUBLISHes per connection without PUBACK, then destroys it. */
export async function blackHoleServer(t: TestContext, dropAfter: number): Promise<{ url: string; port: number; swallowed: () => number }> {
  let swallowed = 0;
  const { url, port } = await listen(t, (socket) => {
    let mine = 0;
    packets(socket, (packet) => {
      if (packet.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
      else if (packet.cmd === 'publish') {
        swallowed++;
        if (++mine >= dropAfter) socket.destroy();
      }
    });
  });
  return { url, port, swallowed: () => swallowed };
}

/** A port on loopback where nothing listens (connections are refused). */
export async function refusingUrl(t: TestContext): Promise<string> {
  const { server, port } = await listen(t, () => undefined);
  await new Promise((resolve) => server.close(resolve));
  return `mqtt://127.0.0.1:${port}`;
}
