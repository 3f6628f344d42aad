// Whether bytes are one JSON text (RFC 8259), decided on the bytes without building the value.
// The NDJSON encoder asks this of every payload; JSON.parse would answer too, but it first
// decodes the bytes to a string and then allocates the whole value, and on the replay path that
// garbage cost more than the rest of the line (see bench/replay.bench.ts). The answer matches
// JSON.parse on valid UTF-8 input (test/bridge/replay/json-check.test.ts compares them on
// generated inputs); nesting deeper than MAX_DEPTH is handed to JSON.parse.

const MAX_DEPTH = 256;

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

class Invalid extends Error {}
const INVALID = new Invalid();
class TooDeep extends Error {}
const TOO_DEEP = new TooDeep();

/**
 * Whether bytes [start, end) of `all` (already known to be valid UTF-8) are exactly one JSON value
 * with optional whitespace around it.
 */
export function isJsonText(all: Uint8Array, start = 0, end = all.length): boolean {
  const bytes = start === 0 && end === all.length ? all : all.subarray(start, end);
  try {
    const stop = skipSpace(bytes, value(bytes, skipSpace(bytes, 0), 0));
    return stop === bytes.length;
  } catch (err) {
    if (err === INVALID) return false;
    if (err === TOO_DEEP) return parses(bytes);
    throw err;
  }
}

function parses(bytes: Uint8Array): boolean {
  try {
    JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

function skipSpace(b: Uint8Array, i: number): number {
  while (i < b.length) {
    const c = b[i]!;
    if (c !== SPACE && c !== TAB && c !== LF && c !== CR) break;
    i++;
  }
  return i;
}

/** Checks the value starting at `i`; returns the index after it. */
function value(b: Uint8Array, i: number, depth: number): number {
  if (i >= b.length) throw INVALID;
  const c = b[i]!;
  if (c === QUOTE) return string(b, i);
  if (c === 0x7b) return object(b, i, depth + 1); // {
  if (c === 0x5b) return array(b, i, depth + 1); // [
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return number(b, i);
  if (c === 0x74) return literal(b, i, 'true');
  if (c === 0x66) return literal(b, i, 'false');
  if (c === 0x6e) return literal(b, i, 'null');
  throw INVALID;
}

function object(b: Uint8Array, i: number, depth: number): number {
  if (depth > MAX_DEPTH) throw TOO_DEEP;
  i = skipSpace(b, i + 1);
  if (b[i] === 0x7d) return i + 1; // }
  for (;;) {
    if (b[i] !== QUOTE) throw INVALID;
    i = skipSpace(b, string(b, i));
    if (b[i] !== 0x3a) throw INVALID; // :
    i = skipSpace(b, value(b, skipSpace(b, i + 1), depth));
    if (b[i] === 0x2c) {
      i = skipSpace(b, i + 1); // ,
      continue;
    }
    if (b[i] === 0x7d) return i + 1;
    throw INVALID;
  }
}

function array(b: Uint8Array, i: number, depth: number): number {
  if (depth > MAX_DEPTH) throw TOO_DEEP;
  i = skipSpace(b, i + 1);
  if (b[i] === 0x5d) return i + 1; // ]
  for (;;) {
    i = skipSpace(b, value(b, i, depth));
    if (b[i] === 0x2c) {
      i = skipSpace(b, i + 1);
      continue;
    }
    if (b[i] === 0x5d) return i + 1;
    throw INVALID;
  }
}

function string(b: Uint8Array, i: number): number {
  for (i++; i < b.length; i++) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20) throw INVALID;
    if (c === BACKSLASH) {
      const e = b[++i];
      if (e === 0x75) {
        // \uXXXX
        for (let k = 0; k < 4; k++) if (!isHex(b[++i])) throw INVALID;
      } else if (e !== QUOTE && e !== BACKSLASH && e !== 0x2f && e !== 0x62 && e !== 0x66 && e !== 0x6e && e !== 0x72 && e !== 0x74) {
        throw INVALID;
      }
    }
  }
  throw INVALID;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function digits(b: Uint8Array, i: number): number {
  const start = i;
  while (i < b.length && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
  if (i === start) throw INVALID;
  return i;
}

// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
function number(b: Uint8Array, i: number): number {
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else i = digits(b, i);
  if (b[i] === 0x2e) i = digits(b, i + 1);
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    i = digits(b, i);
  }
  return i;
}

function literal(b: Uint8Array, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) throw INVALID;
  return i + word.length;
}
