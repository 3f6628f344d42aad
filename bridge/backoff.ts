// Capped exponential backoff with jitter: attempt n waits between half and all of
// min(max, initial * 2^n), so that many gateways coming back after one outage spread out (the
// upstream forwarder's reconnects), and held publishers retry out of step (the MQTT front end).
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
