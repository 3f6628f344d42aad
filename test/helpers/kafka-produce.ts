// Produce and InitProducerId requests by hand over a RawKafka connection, for tests of what real
// clients' own retry logic would hide (a batch sent twice, sequences out of order, a retry after a
// crash). Versions 3-9 of Produce, 0-5 of InitProducerId.
import assert from 'node:assert/strict';
import { Reader } from '../../bridge/kafka/protocol/reader.js';
import { Writer } from '../../bridge/kafka/protocol/writer.js';
import type { RawKafka } from './raw-kafka.js';

export interface PartitionRequest {
  topic: string;
  partition: number;
  records: Buffer | null;
}

export interface PartitionResponse {
  topic: string;
  partition: number;
  error: number;
  baseOffset: number;
  logStartOffset: number;
  message: string | null;
}

/** Sends a Produce request of `version` and returns its answer per partition, or null when none came before the probe's (acks 0). */
export async function produce(kafka: RawKafka, version: number, partitions: PartitionRequest[], options: ProduceOptions = {}): Promise<PartitionResponse[] | null> {
  const id = sendProduce(kafka, version, partitions, options);
  const probe = kafka.send(18, 0, Buffer.alloc(0));
  const frame = (await kafka.response())!;
  if (frame.readInt32BE(0) === probe) return null;
  const answers = readProduceResponse(frame, version, id);
  const r = new Reader((await kafka.response())!);
  assert.equal(r.int32(), probe);
  return answers;
}

export interface ProduceOptions {
  acks?: number;
  timeoutMs?: number;
  transactionalId?: string;
}

/** Sends a Produce request of `version` without waiting for its answer; returns its correlation id. */
export function sendProduce(kafka: RawKafka, version: number, partitions: PartitionRequest[], options: ProduceOptions = {}): number {
  const f = version >= 9;
  const w = new Writer().string(options.transactionalId ?? null, f).int16(options.acks ?? -1).int32(options.timeoutMs ?? 30_000);
  const topics = [...new Set(partitions.map((p) => p.topic))];
  w.array(topics, f, (w, topic) => {
    w.string(topic, f);
    w.array(partitions.filter((p) => p.topic === topic), f, (w, p) => {
      w.int32(p.partition);
      if (p.records === null) {
        if (f) w.uvarint(0);
        else w.int32(-1);
      } else {
        if (f) w.uvarint(p.records.length + 1);
        else w.int32(p.records.length);
        w.bytes(p.records);
      }
      if (f) w.taggedFields();
    });
    if (f) w.taggedFields();
  });
  if (f) w.taggedFields();
  return kafka.send(0, version, Buffer.concat(w.chunks()), f);
}

/** A Produce response frame of `version` (asserted to carry `correlationId`): the answer per partition. */
export function readProduceResponse(frame: Buffer, version: number, correlationId: number): PartitionResponse[] {
  const f = version >= 9;
  const r = new Reader(frame);
  assert.equal(r.int32(), correlationId);
  if (f) r.taggedFields();
  const answers = r.array(f, (r) => {
    const topic = r.string(f);
    return r.array(f, (r): PartitionResponse => {
      const partition = r.int32();
      const error = r.int16();
      const baseOffset = r.int64();
      r.int64(); // log append time
      const logStartOffset = version >= 5 ? r.int64() : -1;
      let message: string | null = null;
      if (version >= 8) {
        r.array(f, () => assert.fail('no record errors'));
        message = r.nullableString(f);
      }
      if (f) r.taggedFields();
      return { topic, partition, error, baseOffset, logStartOffset, message };
    });
  }).flat();
  assert.equal(r.int32(), 0); // throttle
  return answers;
}

/** InitProducerId of `version`: [error, producer id, epoch]. */
export async function initProducerId(kafka: RawKafka, version: number, transactionalId: string | null = null): Promise<[number, number, number]> {
  const f = version >= 2;
  const w = new Writer().string(transactionalId, f).int32(60_000);
  if (version >= 3) w.int64(-1).int16(-1);
  if (f) w.taggedFields();
  const id = kafka.send(22, version, Buffer.concat(w.chunks()), f);
  const r = new Reader((await kafka.response())!);
  assert.equal(r.int32(), id);
  if (f) r.taggedFields();
  r.int32(); // throttle
  const answer: [number, number, number] = [r.int16(), r.int64(), r.int16()];
  if (f) r.taggedFields();
  assert.equal(r.remaining, 0);
  return answer;
}

