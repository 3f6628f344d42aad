// Zig-zag variable-length integers as Kafka's record format uses them (protobuf style):
// 7 bits per byte, low bits first, high bit set on every byte but the last.
// Numbers stay JS numbers: offsets, lengths and millisecond timestamps all fit in 53 bits.

/** Bytes that `writeVarint` will use for `value`. */
export function varintSize(value: number): number {
  let zz = zigzag(value);
  let size = 1;
  while (zz >= 0x80) {
    zz = Math.floor(zz / 128);
    size++;
  }
  return size;
}

/** Writes `value` at `offset`; returns the offset after it. */
export function writeVarint(buf: Uint8Array, offset: number, value: number): number {
  let zz = zigzag(value);
  while (zz >= 0x80) {
    buf[offset++] = (zz & 0x7f) | 0x80;
    zz = Math.floor(zz / 128);
  }
  buf[offset++] = zz;
  return offset;
}

/**
 * A cursor over a buffer for decoding; `pos` moves as values are read, none past `end` (a record
 * walker narrows `end` to the record it reads).
 */
export class VarintReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    public end: number,
  ) {
    this.pos = start;
  }

  /** Reads one zig-zag varint; throws RangeError when it runs past `end` or exceeds 10 bytes. */
  varint(): number {
    const buf = this.buf;
    let pos = this.pos;
    let byte = pos < this.end ? buf[pos++]! : overrun();
    // Fast path: most lengths and deltas fit in one or two bytes.
    if (byte < 0x80) {
      this.pos = pos;
      return (byte >>> 1) ^ -(byte & 1);
    }
    let result = byte & 0x7f;
    let multiplier = 128;
    for (let i = 1; ; i++) {
      if (i >= 10) throw new RangeError('varint longer than 10 bytes');
      byte = pos < this.end ? buf[pos++]! : overrun();
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) break;
      multiplier *= 128;
    }
    this.pos = pos;
    return unzigzag(result);
  }
}

function overrun(): never {
  throw new RangeError('varint runs past the end of its record');
}

function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}
