// Page-level damage to a closed log's SQLite file, as a failing SD card or SSD leaves it: one
// whole B-tree page of the batches table overwritten with garbage. The log must be closed (its WAL
// checkpointed into the file) first, so that the page really is in log.db.
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';

export interface DamagedPage {
  pageNumber: number;
  pageSize: number;
}

/** Overwrites the middle leaf page of the batches table with `fill` bytes; returns which page. */
export function damageBatchesLeaf(file: string, fill = 0x5a): DamagedPage {
  const db = new Database(file, { readonly: true });
  let leaves: number[];
  let pageSize: number;
  try {
    pageSize = db.pragma('page_size', { simple: true }) as number;
    leaves = db
      .prepare(`SELECT pageno FROM dbstat WHERE name = 'batches' AND pagetype = 'leaf' ORDER BY pageno`)
      .pluck()
      .all() as number[];
  } finally {
    db.close();
  }
  if (leaves.length < 3) throw new Error(`the batches table has only ${leaves.length} leaf pages; write more data`);
  const pageNumber = leaves[Math.floor(leaves.length / 2)]!;
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(pageSize, fill), 0, pageSize, (pageNumber - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
  return { pageNumber, pageSize };
}

/** Flips one bit in the stored batch that holds `marker` (a record's bytes): its CRC-32C fails. */
export function flipByteNear(file: string, marker: string): void {
  const bytes = readFileSync(file);
  const at = bytes.indexOf(marker);
  assert.ok(at > 0, `'${marker}' is in ${file}`);
  bytes[at + 3] = bytes[at + 3]! ^ 0x10;
  writeFileSync(file, bytes);
}
