// One simulated device: its own MQTT.js connection, a sensor, a publishing schedule and a window
// of unacknowledged messages. A device that is offline or whose window is full skips its samples
// (counted as `skipped`) rather than buffering without bound. MQTT.js resends unacknowledged
// QoS 1/2 messages itself after a reconnect (counted as `resent`); with several --url addresses it
// moves to the next one when a connection fails or is refused (failover.ts).
import { performance } from 'node:perf_hooks';
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { encodeBinary, encodeJson } from './encoding.js';
import { SimConnectError, closedBeforeConnack, describeConnectFailure } from './errors.js';
import { FAILOVER_MS, RECONNECT_MS, applyBackoff, serverOptions } from './failover.js';
import type { DeviceIdentity } from './fleet-plan.js';
import type { SimOptions } from './options.js';
import { Random } from './random.js';
import { Sensor } from './sensor.js';
import { displayUrl, type Stats } from './stats.js';

/** What all devices share: the stop flag and the --count budget. */
export interface FleetControl {
  running: boolean;
  /** Takes one message from the --count budget; false when it is spent. */
  take(): boolean;
}

export class SimDevice {
  readonly #sensor: Sensor;
  readonly #random: Random;
  #client: MqttClient | null = null;
  #seq = 0;
  #inFlight = 0;
  #refillScheduled = false;
  #everConnected = false;
  /** QoS 1/2 messages unacknowledged when the last connection closed: MQTT.js sends them again on the next. */
  #unackedAtClose = 0;
  #timer: NodeJS.Timeout | null = null;
  #scheduleStart = 0;
  #scheduled = 0;
  /** Acknowledged sequence numbers, kept only for --acked-out. */
  readonly acked: number[] | null;

  constructor(
    readonly identity: DeviceIdentity,
    private readonly options: SimOptions,
    private readonly stats: Stats,
    private readonly control: FleetControl,
  ) {
    // The sensor has a sequence of its own, so that its readings do not depend on the schedule.
    this.#random = Random.derive(options.seed, `${identity.id}/schedule`);
    this.#sensor = new Sensor(identity.profile, Random.derive(options.seed, identity.id), identity.site, options.startTimeMs ?? Date.now(), options.faultRate);
    this.acked = options.ackedOut === undefined ? null : [];
  }

  get connected(): boolean {
    return this.#client?.connected === true;
  }

  /**
   * Connects. With `probe`, the first failure rejects (a clear SimConnectError) instead of being
   * retried: the fleet's first device finds out whether the broker is there and takes us at all.
   */
  start(probe: boolean): Promise<void> {
    const o = this.options;
    const several = o.urls.length > 1;
    const clientOptions: IClientOptions = {
      clientId: `${o.clientPrefix}${this.identity.id}`,
      clean: o.clean,
      keepalive: o.keepaliveS,
      protocolVersion: o.protocolVersion,
      // A probe with one address fails at once; with several it tries each once (below).
      reconnectPeriod: several ? FAILOVER_MS : probe ? 0 : RECONNECT_MS,
      ...serverOptions(o.urls),
      connectTimeout: 10_000,
      // MQTT.js's debug logging costs a few percent of CPU per message even when it is off.
      log: () => undefined,
      rejectUnauthorized: o.tls.rejectUnauthorized,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
      ...(o.tls.ca === undefined ? {} : { ca: o.tls.ca }),
      ...(o.tls.cert === undefined ? {} : { cert: o.tls.cert, key: o.tls.key }),
    };
    const client = mqtt.connect(o.url.href, clientOptions);
    this.#client = client;
    let wasUp = false;
    client.on('connect', () => {
      this.stats.connected++;
      wasUp = true;
      if (this.#everConnected) this.stats.reconnects++;
      if (o.qos > 0) this.stats.resent += this.#unackedAtClose;
      this.#unackedAtClose = 0;
      this.#everConnected = true;
      this.#resume();
    });
    client.on('close', () => {
      if (wasUp) this.stats.connected--;
      wasUp = false;
      this.#unackedAtClose = this.#inFlight;
    });
    // A probe with several addresses: why each attempt failed, in the order MQTT.js walks them.
    const failures: string[] = [];
    let lastError: Error | null = null;
    const onAttemptFailed = (): void => {
      if (failures.length >= o.urls.length) return; // the probe is over: it connected or gave up
      const at = displayUrl(o.urls[failures.length % o.urls.length]!);
      failures.push((lastError === null ? closedBeforeConnack(at) : describeConnectFailure(at, lastError)).message);
      lastError = null;
    };
    applyBackoff(client, o.urls.length, probe && several ? onAttemptFailed : undefined);
    if (!probe) {
      client.on('error', () => this.stats.connectionErrors++);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const where = displayUrl(o.url);
      const onError = (err: Error): void => {
        lastError = err;
        if (several) return; // counted when its connection closes
        settle();
        client.end(true);
        reject(describeConnectFailure(where, err));
      };
      const onClose = (): void => {
        if (several && failures.length < o.urls.length) return;
        settle();
        client.end(true);
        reject(several ? new SimConnectError(`no broker of the ${o.urls.length} given took the connection: ${failures.join('; ')}`) : closedBeforeConnack(where));
      };
      const onConnect = (): void => {
        settle();
        client.options.reconnectPeriod = several ? FAILOVER_MS : RECONNECT_MS;
        client.on('error', () => this.stats.connectionErrors++);
        resolve();
      };
      const settle = (): void => {
        client.off('error', onError);
        client.off('close', onClose);
        client.off('connect', onConnect);
      };
      client.on('error', onError);
      client.on('close', onClose);
      client.on('connect', onConnect);
    });
  }

  /** Chaos: the connection drops as a network failure would; MQTT.js reconnects after `downtimeMs`. */
  drop(downtimeMs: number): void {
    const client = this.#client;
    if (client === null || !client.connected) return;
    client.options.reconnectPeriod = Math.max(1, Math.round(downtimeMs));
    this.stats.chaosDrops++;
    client.stream.destroy();
  }

  /** Stops publishing; what is in flight stays in flight. */
  pause(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  async end(): Promise<void> {
    this.pause();
    const client = this.#client;
    if (client === null) return;
    // A clean DISCONNECT if the broker answers in time, else just close.
    await Promise.race([client.endAsync(false), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    if (!client.disconnected) await client.endAsync(true);
  }

  /** After a (re)connect: start the schedule once, or refill the window in closed-loop mode. */
  #resume(): void {
    if (!this.control.running) return;
    if (this.options.rate === 'max') {
      this.#fill();
      return;
    }
    if (this.#timer !== null || this.#scheduleStart !== 0) return;
    // Devices do not tick in lockstep: each starts at a random phase of its period.
    const periodMs = 1000 / this.options.rate;
    this.#scheduleStart = performance.now() + this.#random.between(0, periodMs);
    const tickMs = Math.min(1000, Math.max(10, periodMs));
    const first = setTimeout(() => {
      this.#tick();
      if (this.control.running) this.#timer = setInterval(() => this.#tick(), tickMs);
    }, this.#scheduleStart - performance.now());
    this.#timer = first;
  }

  /** Publishes what the schedule says is due; samples that cannot go out now are skipped. */
  #tick(): void {
    if (!this.control.running) return this.pause();
    const rate = this.options.rate as number;
    const due = Math.floor(((performance.now() - this.#scheduleStart) * rate) / 1000) + 1;
    for (; this.#scheduled < due; this.#scheduled++) {
      if (this.connected && this.#inFlight < this.options.window) {
        if (!this.#publish()) return this.pause();
      } else this.stats.skipped++;
    }
  }

  /** Wall clock, or on --start-time's simulated clock one period per sample (1 s at --rate max). */
  #sampleTime(seq: number): number {
    const { startTimeMs, rate } = this.options;
    if (startTimeMs === undefined) return Date.now();
    return startTimeMs + Math.round((seq * 1000) / (rate === 'max' ? 1 : rate));
  }

  /** Closed loop (--rate max): keep the window full. */
  #fill(): void {
    while (this.control.running && this.connected && this.#inFlight < this.options.window) {
      if (!this.#publish()) return;
    }
  }

  #publish(): boolean {
    if (!this.control.take()) return false;
    const { qos, format } = this.options;
    const { id, profile, topic } = this.identity;
    const seq = this.#seq++;
    const reading = this.#sensor.read(this.#sampleTime(seq));
    const payload = format === 'binary' ? encodeBinary(seq, reading, profile) : encodeJson(id, seq, reading, profile);
    const sentAt = performance.now();
    this.stats.sent++;
    // The device's window counts QoS 0 messages until they are written, so that --rate max at
    // QoS 0 is paced by the socket; the fleet's in-flight figure counts QoS 1/2 only.
    this.#inFlight++;
    if (qos > 0) this.stats.inFlight++;
    const publishOptions: IClientPublishOptions = this.options.protocolVersion === 5 ? { qos, properties: { userProperties: { device: id, profile: profile.name, seq: String(seq) } } } : { qos };
    this.#client!.publish(topic, payload, publishOptions, (err) => {
      this.#inFlight--;
      if (qos > 0) this.stats.inFlight--;
      if (err) this.stats.failed++;
      else if (qos > 0) {
        this.stats.ack(performance.now() - sentAt);
        this.acked?.push(seq);
      }
      if (this.options.rate === 'max') this.#refill();
    });
    return true;
  }

  /**
   * At QoS 0 the callback comes once the socket took the bytes, and on a broker that reads fast
   * that is at once (process.nextTick): refilling from there would chain ticks for ever and starve
   * the timers, the end of the run's among them. The refill waits for the next loop turn instead.
   */
  #refill(): void {
    if (this.options.qos > 0) return this.#fill();
    if (this.#refillScheduled) return;
    this.#refillScheduled = true;
    setImmediate(() => {
      this.#refillScheduled = false;
      this.#fill();
    });
  }
}
