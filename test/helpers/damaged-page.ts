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
  return overwritePage(file, pageNumber, pageSize, fill);
}

/** Overwrites the (only) page of a small table such as `partitions`, which start-up reads. */
export function damageSmallTable(file: string, table: string, fill = 0x5a): DamagedPage {
  const db = new Database(file, { readonly: true });
  let pageNumber: number;
  let pageSize: number;
  try {
    pageSize = db.pragma('page_size', { simple: true }) as number;
    pageNumber = db.prepare(`SELECT rootpage FROM sqlite_schema WHERE name = ?`).pluck().get(table) as number;
  } finally {
    db.close();
  }
  return overwritePage(file, pageNumber, pageSize, fill);
}

function overwritePage(file: string, pageNumber: number, pageSize: number, fill: number): DamagedPage {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(pageSize, fill), 0, pageSize, (pageNumber - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
  return { pageNumber, pageSize };
}

/**
 * Flips one bit (`mask`) of the byte `at` (default 3) bytes into `marker` (a record's bytes) in the
 * stored batch that holds it: its CRC-32C fails. The file may also hold stale copies of the marker
 * in free pages (pages a B-tree rebalance or retention left behind); flipping one of those changes
 * nothing a read sees, so each copy is tried until the live batch is the one changed.
 */
export function flipByteNear(file: string, marker: string, at = 3, mask = 0x10): void {
  const bytes = readFileSync(file);
  assert.ok(bytes.indexOf(marker) >= 0, `'${marker}' is in ${file}`);
  for (let found = bytes.indexOf(marker); found >= 0; found = bytes.indexOf(marker, found + 1)) {
    bytes[found + at] = bytes[found + at]! ^ mask;
    writeFileSync(file, bytes);
    if (!storedIntact(file, marker)) return;
    bytes[found + at] = bytes[found + at]! ^ mask; // a stale copy: put it back
  }
  writeFileSync(file, bytes);
  assert.fail(`no copy of '${marker}' in ${file} is the stored batch's`);
}

/** Whether a stored batch still holds `marker` unchanged. */
function storedIntact(file: string, marker: string): boolean {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT COUNT(*) FROM batches WHERE instr(data, ?) > 0`).pluck().get(Buffer.from(marker)) as number) > 0;
  } finally {
    db.close();
  }
}
