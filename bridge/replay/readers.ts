// Named readers as `tributary readers` and GET /api/readers show them: each stored position with
// the partition's current end and the lag (records appended since the position).
import type { ReaderPositions } from './reader-store.js';
import type { Log } from '../../broker/log/log.js';

export interface ReaderLag {
  reader: string;
  topic: string;
  partition: number;
  nextOffset: number;
  /** null when the topic or partition no longer exists. */
  logEndOffset: number | null;
  lag: number | null;
  updatedAt: string;
}

export function readerLags(readers: ReaderPositions, log: Log): ReaderLag[] {
  const ends = new Map<string, number>();
  for (const t of log.topics()) for (const p of t.partitions) ends.set(`${t.name}\0${p.partition}`, p.logEndOffset);
  return readers.list().map((c) => {
    const end = ends.get(`${c.topic}\0${c.partition}`) ?? null;
    return {
      reader: c.reader,
      topic: c.topic,
      partition: c.partition,
      nextOffset: c.nextOffset,
      logEndOffset: end,
      lag: end === null ? null : Math.max(0, end - c.nextOffset),
      updatedAt: new Date(c.updatedAt).toISOString(),
    };
  });
}
