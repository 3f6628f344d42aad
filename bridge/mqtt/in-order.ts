// Runs completions in the order their slots were taken, whatever order they finish in.
// [MQTT-4.6.0-2] PUBACKs go out in the order the PUBLISHes came in; appends to different
// partitions (or one held back by a retry) may finish in another order.

interface Slot {
  run: (() => void) | null;
}

export class InOrder {
  readonly #slots: Slot[] = [];

  /** Takes the next slot; call the returned function with the completion once it is ready. */
  take(): (run: () => void) => void {
    const slot: Slot = { run: null };
    this.#slots.push(slot);
    return (run) => {
      slot.run = run;
      while (this.#slots.length > 0 && this.#slots[0]!.run !== null) this.#slots.shift()!.run!();
    };
  }
}
