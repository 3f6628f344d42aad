// Telemetry for the replay tests: per record a JSON, text or binary payload (all three value
// encodings), a key out of five, the MQTT topic header the front end stores, timestamps 10 ms
// apart ending about now.
import type { Log } from '../../broker/log/log.js';
import type { RecordInput } from '../../broker/log/record-batch.js';

export const SPACING_MS = 10;

export function payload(partition: number, i: number): Buffer {
  switch (i % 3) {
    case 0:
      return Buffer.from(JSON.stringify({ p: partition, i, temp: 20 + (i % 10) / 10 }));
    case 1:
      return Buffer.from(`reading ${partition}/${i}`);
    default:
      return Buffer.from([0xff, 0xfe, partition, i & 0xff]);
  }
}

export function telemetry(partition: number, from: number, count: number, t0: number): RecordInput[] {
  return Array.from({ length: count }, (_, j) => {
    const i = from + j;
    return {
      timestamp: t0 + i * SPACING_MS,
      key: Buffer.from(`sensor-${i % 5}`),
      value: payload(partition, i),
      headers: [['mqtt.topic', Buffer.from(`site/${partition}/sensor-${i % 5}`)]] as const,
    };
  });
}

/** Appends `perPartition` records to each partition of `topic`, in batches of `batch`. */
export async function seed(log: Log, topic: string, partitions: number, perPartition: number, options: { batch?: number; t0?: number } = {}): Promise<number> {
  const batch = options.batch ?? 500;
  const t0 = options.t0 ?? Date.now() - perPartition * SPACING_MS - 60_000;
  await log.createTopic(topic, partitions);
  const pending: Promise<unknown>[] = [];
  for (let p = 0; p < partitions; p++) {
    for (let i = 0; i < perPartition; i += batch) pending.push(log.append(topic, p, telemetry(p, i, Math.min(batch, perPartition - i), t0)));
  }
  await Promise.all(pending);
  return t0;
}
