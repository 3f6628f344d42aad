// An MQTT connection at the packet level (mqtt-packet over a plain socket), for what a well-behaved
// client library will not do: resend a PUBLISH with DUP, drop a connection mid-handshake, or send
// garbage.
import { connect as tcpConnect, type Socket } from 'node:net';
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet';

export class RawMqtt {
  readonly received: Packet[] = [];
  #waiters: Array<{ test: (p: Packet) => boolean; resolve: (p: Packet) => void }> = [];
  closed: Promise<void>;

  private constructor(
    readonly socket: Socket,
    protocolVersion: 4 | 5,
  ) {
    const parser = mqttPacket.parser({ protocolVersion });
    parser.on('packet', (packet: Packet) => {
      this.received.push(packet);
      const i = this.#waiters.findIndex((w) => w.test(packet));
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(packet);
    });
    socket.on('data', (chunk) => parser.parse(chunk));
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
  }

  /**
   * `localAddress`: the loopback address to connect from (Linux routes all of 127.0.0.0/8 to lo).
   * `protocolVersion`: how what the server sends is parsed (5: with reason codes and properties).
   */
  static async open(port: number, localAddress?: string, protocolVersion: 4 | 5 = 4): Promise<RawMqtt> {
    const socket = tcpConnect({ port, host: '127.0.0.1', ...(localAddress === undefined ? {} : { localAddress }) });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawMqtt(socket, protocolVersion);
  }

  send(...packets: Packet[]): void {
    this.socket.write(Buffer.concat(packets.map((p) => mqttPacket.generate(p))));
  }

  /** The next received packet of this command (and id), or what has already arrived. */
  next(cmd: Packet['cmd'], messageId?: number): Promise<Packet> {
    const test = (p: Packet): boolean => p.cmd === cmd && (messageId === undefined || (p as { messageId?: number }).messageId === messageId);
    const seen = this.received.findIndex(test);
    if (seen >= 0) return Promise.resolve(this.received.splice(seen, 1)[0]!);
    return new Promise((resolve) => this.#waiters.push({ test, resolve: (p) => (this.received.splice(this.received.indexOf(p), 1), resolve(p)) }));
  }

  async connect(clientId: string, clean = true): Promise<IConnackPacket> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean, keepalive: 60 });
    return (await this.next('connack')) as IConnackPacket;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
