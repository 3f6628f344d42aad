// One job: count the wills aedes is publishing, each from aedes.publishWill until aedes has deleted
// it from the session store (delWill, which aedes 2 runs after the will's publish), so that the
// front end shuts the store only after those deletes (front-end.ts close).
/** Wills aedes is publishing (publishWill), each until its delete from the session store (delWill). */
export class WillsUnderWay {
  readonly #count = new Map<string, number>();
  #waiting: Array<() => void> = [];

  started(clientId: string): void {
    this.#count.set(clientId, (this.#count.get(clientId) ?? 0) + 1);
  }

  /** delWill ran for `clientId` (also for a will that was not being published: then nothing changes). */
  settled(clientId: string): void {
    const left = (this.#count.get(clientId) ?? 0) - 1;
    if (left > 0) this.#count.set(clientId, left);
    else this.#count.delete(clientId);
    if (this.#count.size === 0) for (const resolve of this.#waiting.splice(0)) resolve();
  }

  /** Once every will has settled, or after `boundMs` (a will stuck elsewhere must not hold a shutdown). */
  settledAll(boundMs = 5_000): Promise<void> {
    if (this.#count.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, boundMs).unref();
      this.#waiting.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
