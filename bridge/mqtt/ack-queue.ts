// One connection's acknowledgements, released in the order their PUBLISHes came in, whatever
// order the appends behind them finish in: [MQTT-4.6.0-2] PUBACKs go out in arrival order, and
// appends to different partitions (or one held back by a retry) may finish in another order.
//
// Two kinds of turn share the queue: a completion to run (a publish aedes handles; aedes writes
// its PUBACK itself) and a PUBACK the fast path writes (fast-path.ts). Consecutive PUBACKs of the
// fast path leave in one write: 4 bytes each, or 5 for an MQTT 5.0 PUBACK that carries a failure
// reason code (no properties, so no Property Length [MQTT-3.4.2.2.1]).

const PUBACK = 0x40;
const PUBACK_SIZE = 4;
const PUBACK_WITH_REASON_SIZE = 5;

/** While releasingTogether() runs: the queues whose release waits for its end. */
let deferred: AckQueue[] | null = null;

/**
 * Runs `settle`, which makes turns of many queues ready (the records of one append, in order), and
 * releases each queue once at the end: a connection whose hundred publishes one append made
 * durable gets one write of a hundred PUBACKs, not a hundred writes of one.
 */
export function releasingTogether(settle: () => void): void {
  if (deferred !== null) return settle();
  const queues: AckQueue[] = (deferred = []);
  try {
    settle();
  } finally {
    deferred = null;
    for (const queue of queues) queue.release();
  }
}

/** A turn in the queue; `done` marks it ready. */
export class AckTurn {
  /** The completion to run in turn, or null for a PUBACK the queue writes itself. */
  run: (() => void) | null = null;
  ready = false;
  /** MQTT 5.0: the PUBACK's reason code; 0 (success) leaves it out. */
  reasonCode = 0;

  constructor(
    private readonly queue: AckQueue,
    /** The packet id of the PUBACK to write; 0 for a completion. */
    readonly messageId: number,
  ) {}

  done(): void {
    this.ready = true;
    this.queue.release();
  }

  /** MQTT 5.0: the PUBACK, in its turn, says the publish was not accepted, with `reasonCode` (>= 0x80). */
  refuse(reasonCode: number): void {
    this.reasonCode = reasonCode;
    this.done();
  }
}

export class AckQueue {
  #turns: AckTurn[] = [];
  #head = 0;
  #releasing = false;
  /** Waits in releasingTogether()'s list. */
  #deferred = false;

  /** `write` sends PUBACK bytes to the client (several packets in one buffer). */
  constructor(private readonly write: (pubacks: Buffer) => void) {}

  /** Takes the next turn for a completion; call the returned function with it once it is ready. */
  take(): (run: () => void) => void {
    const turn = this.#push(0);
    return (run) => {
      turn.run = run;
      turn.done();
    };
  }

  /** Takes the next turn for the PUBACK of `messageId`; `done()` it once the message is durable. */
  puback(messageId: number): AckTurn {
    return this.#push(messageId);
  }

  /** Turns taken and not yet released. */
  get waiting(): number {
    return this.#turns.length - this.#head;
  }

  #push(messageId: number): AckTurn {
    const turn = new AckTurn(this, messageId);
    this.#turns.push(turn);
    return turn;
  }

  /** Releases the ready turns at the head: PUBACKs gathered into one write, completions run in between. */
  release(): void {
    if (deferred !== null) {
      if (!this.#deferred) deferred.push(this);
      this.#deferred = true;
      return;
    }
    this.#deferred = false;
    // A completion may make another turn ready (and so call this again): the outer loop takes it.
    if (this.#releasing) return;
    this.#releasing = true;
    try {
      while (this.#head < this.#turns.length && this.#turns[this.#head]!.ready) {
        const turn = this.#turns[this.#head]!;
        if (turn.run !== null) {
          this.#head++;
          turn.run();
          continue;
        }
        let end = this.#head + 1;
        while (end < this.#turns.length && this.#turns[end]!.ready && this.#turns[end]!.run === null) end++;
        const from = this.#head;
        this.#head = end;
        this.#writePubacks(from, end - from);
      }
    } finally {
      this.#releasing = false;
    }
    // Drop released turns now and then rather than shifting the array on every release.
    if (this.#head === this.#turns.length) {
      this.#turns = [];
      this.#head = 0;
    } else if (this.#head >= 1024) {
      this.#turns = this.#turns.slice(this.#head);
      this.#head = 0;
    }
  }

  #writePubacks(from: number, count: number): void {
    // Sized exactly: one buffer per write, no slice of a larger one.
    let size = count * PUBACK_SIZE;
    for (let i = 0; i < count; i++) if (this.#turns[from + i]!.reasonCode !== 0) size += PUBACK_WITH_REASON_SIZE - PUBACK_SIZE;
    const bytes = Buffer.allocUnsafe(size);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const { messageId: id, reasonCode } = this.#turns[from + i]!;
      bytes[at] = PUBACK;
      bytes[at + 2] = id >> 8;
      bytes[at + 3] = id & 0xff;
      if (reasonCode === 0) {
        bytes[at + 1] = 2;
        at += PUBACK_SIZE;
      } else {
        bytes[at + 1] = 3;
        bytes[at + 4] = reasonCode;
        at += PUBACK_WITH_REASON_SIZE;
      }
    }
    this.write(bytes);
  }
}
