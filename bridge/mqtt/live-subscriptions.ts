// Which topics have a connected subscriber: the ingest fast path (fast-path.ts) leaves a publish to
// aedes whenever one might. aedes delivers through its message emitter (mqemitter), whose topic
// matcher it does not expose; this keeps a mirror of it, fed by wrapping the emitter's on() and
// removeListener(), with the same matcher (qlobber) and options, so both answer alike.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// qlobber ships no typings.
const { Qlobber } = require('qlobber') as { Qlobber: new (options: object) => Matcher };

interface Matcher {
  add(topic: string, value: unknown): void;
  remove(topic: string, value?: unknown): void;
  match(topic: string): unknown[];
}

/** The part of mqemitter that aedes subscribes and unsubscribes through. */
export interface MessageEmitter {
  on(topic: string, notify: unknown, done?: () => void): unknown;
  removeListener(topic: string, notify: unknown, done?: () => void): unknown;
  removeAllListeners(topic: string, done?: () => void): unknown;
}

export class LiveSubscriptions {
  // aedes creates its emitter with matchEmptyLevels [MQTT-4.7.1-3]; mqemitter's separator and wildcards are MQTT's.
  readonly #matcher = new Qlobber({ separator: '/', wildcard_one: '+', wildcard_some: '#', match_empty_levels: true });
  #version = 0;

  /** Mirrors what `emitter` is subscribed to from now on. */
  static watch(emitter: MessageEmitter): LiveSubscriptions {
    const live = new LiveSubscriptions();
    const on = emitter.on.bind(emitter);
    const removeListener = emitter.removeListener.bind(emitter);
    const removeAllListeners = emitter.removeAllListeners.bind(emitter);
    emitter.on = (topic, notify, done) => {
      live.#matcher.add(topic, notify);
      live.#version++;
      return on(topic, notify, done);
    };
    // mqemitter removes on the next turn: so does the mirror, just after it, so that for a
    // moment it answers "subscribed" rather than miss a subscriber.
    emitter.removeListener = (topic, notify, done) => {
      const result = removeListener(topic, notify, done);
      setImmediate(() => {
        live.#matcher.remove(topic, notify);
        live.#version++;
      });
      return result;
    };
    emitter.removeAllListeners = (topic, done) => {
      live.#matcher.remove(topic);
      live.#version++;
      return removeAllListeners(topic, done);
    };
    return live;
  }

  hasSubscriber(topic: string): boolean {
    return this.#matcher.match(topic).length > 0;
  }

  /** Changes whenever hasSubscriber() may answer otherwise. */
  get version(): number {
    return this.#version;
  }
}
