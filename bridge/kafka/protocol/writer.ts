// Writes the primitive types of the Kafka protocol into a response. Small fields go into a scratch
// buffer; large byte runs (stored record batches) are kept as their own chunks, never copied, so a
// Fetch response hands the log's bytes to the socket as stored. `chunks()` gives the pieces in
// order and `length` their total, for the frame's size prefix.
const SCRATCH_BYTES = 1024;

export class Writer {
  private readonly done: Buffer[] = [];
  private scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private used = 0;
  private total = 0;

  get length(): number {
    return this.total;
  }

  int8(v: number): this {
    this.room(1).writeInt8(v, this.used);
    return this.advance(1);
  }
  int16(v: number): this {
    this.room(2).writeInt16BE(v, this.used);
    return this.advance(2);
  }
  int32(v: number): this {
    this.room(4).writeInt32BE(v, this.used);
    return this.advance(4);
  }
  int64(v: number): this {
    this.room(8).writeBigInt64BE(BigInt(v), this.used);
    return this.advance(8);
  }
  bool(v: boolean): this {
    return this.int8(v ? 1 : 0);
  }
  uuid(v: Buffer): this {
    return this.bytes(v);
  }

  /** An unsigned varint (values up to 2^32 - 1). */
  uvarint(v: number): this {
    const buf = this.room(5);
    let n = v >>> 0;
    let at = this.used;
    while (n >= 0x80) {
      buf[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    buf[at++] = n;
    return this.advance(at - this.used);
  }

  /** STRING or COMPACT_STRING (flexible); null writes the null form (nullable fields only). */
  string(s: string | null, flexible: boolean): this {
    if (s === null) return flexible ? this.uvarint(0) : this.int16(-1);
    const bytes = Buffer.from(s, 'utf8');
    if (flexible) this.uvarint(bytes.length + 1);
    else this.int16(bytes.length);
    return this.bytes(bytes);
  }

  /** ARRAY or COMPACT_ARRAY; null writes the null form (nullable fields only). */
  array<T>(items: readonly T[] | null, flexible: boolean, item: (w: Writer, v: T) => void): this {
    if (items === null) return flexible ? this.uvarint(0) : this.int32(-1);
    if (flexible) this.uvarint(items.length + 1);
    else this.int32(items.length);
    for (const v of items) item(this, v);
    return this;
  }

  /** A tagged-field section: `fields` as [tag, the field's encoded bytes], in ascending tag order. */
  taggedFields(fields: ReadonlyArray<readonly [number, Writer]> = []): this {
    this.uvarint(fields.length);
    for (const [tag, field] of fields) {
      this.uvarint(tag).uvarint(field.length);
      for (const chunk of field.chunks()) this.bytes(chunk);
    }
    return this;
  }

  /** Raw bytes. Large runs are kept as their own chunk (not copied). */
  bytes(v: Buffer): this {
    if (v.length <= SCRATCH_BYTES / 4) {
      v.copy(this.room(v.length), this.used);
      return this.advance(v.length);
    }
    this.flush();
    this.done.push(v);
    this.total += v.length;
    return this;
  }

  /** The encoded pieces, in order. */
  chunks(): Buffer[] {
    this.flush();
    return this.done;
  }

  private room(bytes: number): Buffer {
    if (this.used + bytes > this.scratch.length) {
      this.flush();
      if (bytes > this.scratch.length) this.scratch = Buffer.allocUnsafe(bytes);
    }
    return this.scratch;
  }

  private advance(bytes: number): this {
    this.used += bytes;
    this.total += bytes;
    return this;
  }

  private flush(): void {
    if (this.used === 0) return;
    this.done.push(this.scratch.subarray(0, this.used));
    this.scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
    this.used = 0;
  }
}
