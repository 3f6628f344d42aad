// Reads the primitive types of the Kafka protocol from one request body (the protocol guide,
// "Protocol Primitive Types"). Every read is bounds-checked: running past the end, a length that
// points past it, or an invalid varint throws MalformedRequestError, which closes the connection.
// Flexible versions (KIP-482) use the compact forms: unsigned-varint lengths stored as length + 1
// (0 = null) and a tagged-field section at the end of every structure.
import { MalformedRequestError } from '../errors.js';

export class Reader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    offset = 0,
  ) {
    this.pos = offset;
  }

  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  int8(): number {
    this.need(1, 'int8');
    return this.buf.readInt8(this.pos++);
  }
  int16(): number {
    this.need(2, 'int16');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4, 'int32');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** An int64 as a number; offsets and timestamps beyond 2^53 are refused (the log's offsets are safe integers). */
  int64(): number {
    this.need(8, 'int64');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new MalformedRequestError(`int64 ${v} at byte ${this.pos - 8} is beyond 2^53`);
    return Number(v);
  }
  bool(): boolean {
    return this.int8() !== 0;
  }
  /** 16 bytes, as a Buffer (a topic id, KIP-516). */
  uuid(): Buffer {
    this.need(16, 'uuid');
    const v = this.buf.subarray(this.pos, this.pos + 16);
    this.pos += 16;
    return v;
  }

  /** An unsigned varint of at most 5 bytes (a 32-bit value), as in protobuf. */
  uvarint(): number {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      this.need(1, 'unsigned varint');
      const byte = this.buf[this.pos++]!;
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        if (value > 0xffffffff) break;
        return value;
      }
    }
    throw new MalformedRequestError(`unsigned varint at byte ${this.pos} is longer than 32 bits`);
  }

  /** STRING (int16 length) or, in flexible versions, COMPACT_STRING; null only where nullable. */
  string(flexible: boolean): string {
    const s = this.nullableString(flexible);
    if (s === null) throw new MalformedRequestError(`null string at byte ${this.pos} where the field is not nullable`);
    return s;
  }
  nullableString(flexible: boolean): string | null {
    const length = flexible ? this.uvarint() - 1 : this.int16();
    if (length < 0) {
      if (length === -1) return null;
      throw new MalformedRequestError(`string length ${length} at byte ${this.pos}`);
    }
    this.need(length, 'string');
    const s = this.buf.toString('utf8', this.pos, this.pos + length);
    this.pos += length;
    return s;
  }

  /** BYTES / RECORDS (int32 length) or their compact forms, nullable: the bytes, without copying. */
  nullableBytes(flexible: boolean): Buffer | null {
    const length = flexible ? this.uvarint() - 1 : this.int32();
    if (length < 0) {
      if (length === -1) return null;
      throw new MalformedRequestError(`bytes length ${length} at byte ${this.pos}`);
    }
    this.need(length, 'bytes');
    const v = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return v;
  }

  /**
   * ARRAY (int32 count) or COMPACT_ARRAY; `item` reads one element. A count larger than the bytes
   * left is refused before any element is read (every element takes at least one byte), so an
   * absurd count costs nothing.
   */
  array<T>(flexible: boolean, item: (r: Reader) => T): T[] {
    const items = this.nullableArray(flexible, item);
    if (items === null) throw new MalformedRequestError(`null array at byte ${this.pos} where the field is not nullable`);
    return items;
  }
  nullableArray<T>(flexible: boolean, item: (r: Reader) => T): T[] | null {
    const count = flexible ? this.uvarint() - 1 : this.int32();
    if (count < 0) {
      if (count === -1) return null;
      throw new MalformedRequestError(`array length ${count} at byte ${this.pos}`);
    }
    if (count > this.remaining) throw new MalformedRequestError(`array of ${count} elements at byte ${this.pos}, only ${this.remaining} bytes left`);
    const items: T[] = [];
    for (let i = 0; i < count; i++) items.push(item(this));
    return items;
  }

  /**
   * A tagged-field section (flexible versions): a count, then per field its tag, size and bytes.
   * `known` reads the tags a structure defines (with a Reader over exactly the field's bytes);
   * every other tag is skipped, as the protocol requires.
   */
  taggedFields(known?: (tag: number, field: Reader) => void): void {
    const count = this.uvarint();
    if (count > this.remaining) throw new MalformedRequestError(`${count} tagged fields at byte ${this.pos}, only ${this.remaining} bytes left`);
    for (let i = 0; i < count; i++) {
      const tag = this.uvarint();
      const size = this.uvarint();
      this.need(size, `tagged field ${tag}`);
      if (known !== undefined) known(tag, new Reader(this.buf.subarray(this.pos, this.pos + size)));
      this.pos += size;
    }
  }

  private need(bytes: number, what: string): void {
    if (this.pos + bytes > this.buf.length) {
      throw new MalformedRequestError(`${what} at byte ${this.pos} needs ${bytes} bytes, ${this.buf.length - this.pos} left`);
    }
  }
}
