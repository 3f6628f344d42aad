// One job: count one connection's inbound QoS 1 and 2 PUBLISHes not yet answered, so that an MQTT
// 5.0 client that sends more than the Receive Maximum the server announced is told so.
// [MQTT-3.3.4-9] / section 3.3.4: "If it receives more than Receive Maximum QoS 1 and QoS 2 PUBLISH
// packets where it has not sent a PUBACK or PUBCOMP in response, the Server uses a DISCONNECT
// packet with Reason Code 0x93 (Receive Maximum exceeded)". A PUBREC with a Reason Code of 0x80 or
// more ends the flow as well [MQTT-4.3.3] and frees the slot on the client's side.
//
// Both ways of a connection are read at the byte level, whoever handles the packet (the ingest fast
// path or aedes): arrivals by the frame guard's scanner (frame-guard.ts), answers by the bytes
// written to the socket. A well-behaved client sends its next publish only after reading our
// answer, which was counted when it was written: it is never refused wrongly. A session resumed on
// a new connection may see PUBCOMPs for flows counted on the old one; the count stays at 0 then.
// MQTT 3.1.1 has no Receive Maximum: once a connection's CONNECT says it is not 5.0, neither way is
// read any more (the answers' scan was most of the window's cost per message).

export class ReceiveMaximumExceededError extends Error {
  /** MQTT 5.0 DISCONNECT reason code 0x93, Receive Maximum exceeded. */
  readonly reasonCode = 0x93;
  constructor(readonly maximum: number) {
    super(`more than Receive Maximum (${maximum}) QoS 1/2 PUBLISHes unacknowledged [MQTT-3.3.4-9]`);
  }
}

const PUBLISH = 3;
const PUBACK = 4;
const PUBREC = 5;
const PUBCOMP = 7;

/** One connection's count of QoS 1/2 PUBLISHes received and not yet answered. */
export class ReceiveWindow {
  #unanswered = 0;
  /** Whether the window applies (an MQTT 5.0 client); undefined until the client's CONNECT is read. */
  #applies: boolean | undefined;
  readonly #sent = new AnswerScanner(() => {
    if (this.#unanswered > 0) this.#unanswered--;
  });

  /**
   * `maximum`: the Receive Maximum announced to the client; `version` tells the client's protocol
   * level once its CONNECT has been read (5 for MQTT 5.0), null or undefined before.
   */
  constructor(
    readonly maximum: number,
    private readonly version: () => number | null | undefined,
  ) {}

  get unanswered(): number {
    return this.#unanswered;
  }

  /** A packet arrived whose first byte is `first`; throws ReceiveMaximumExceededError past the window. */
  received(first: number): void {
    if (first >> 4 !== PUBLISH || (first & 0x06) === 0 || !this.#counting()) return;
    if (++this.#unanswered > this.maximum && this.#applies === true) throw new ReceiveMaximumExceededError(this.maximum);
  }

  /** Bytes written to the client. */
  sent(chunk: Uint8Array): void {
    if (this.#counting()) this.#sent.scan(chunk);
  }

  /** `length` bytes written that are not a Uint8Array (a string): only skipped over. */
  sentOther(length: number): void {
    if (this.#counting()) this.#sent.skip(length);
  }

  /**
   * Counts until the client is known not to be MQTT 5.0, then never again. While its version is
   * unknown (before the CONNECT is handled) both ways are read, so that a 5.0 client's count starts
   * with its first packet and the answers' scan stays in step with the packets written.
   */
  #counting(): boolean {
    if (this.#applies === undefined) {
      const version = this.version();
      if (version !== null && version !== undefined) this.#applies = version === 5;
    }
    return this.#applies !== false;
  }
}

/**
 * Follows the packets written to a client across writes (mqtt-packet writes one packet in several
 * pieces) and calls `answered` for each PUBACK, PUBCOMP and PUBREC with a failure reason code.
 */
class AnswerScanner {
  /** Inside a fixed header: -1 before the type byte, else Remaining Length bytes read so far. */
  #headerBytes = -1;
  #type = 0;
  #length = 0;
  #multiplier = 1;
  /** Body bytes of the current packet seen so far. */
  #bodyAt = 0;
  #bodyLeft = 0;

  constructor(private readonly answered: () => void) {}

  scan(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#headerBytes === -2) {
        // In a body: only a PUBREC's third byte (its Reason Code) is read.
        if (this.#type === PUBREC && this.#length > 2 && this.#bodyAt <= 2 && this.#bodyAt + (chunk.length - i) > 2) {
          if (chunk[i + 2 - this.#bodyAt]! >= 0x80) this.answered();
        }
        const take = Math.min(this.#bodyLeft, chunk.length - i);
        i += take;
        this.#bodyAt += take;
        this.#bodyLeft -= take;
        if (this.#bodyLeft === 0) this.#headerBytes = -1;
        continue;
      }
      const byte = chunk[i++]!;
      if (this.#headerBytes === -1) {
        this.#type = byte >> 4;
        this.#headerBytes = 0;
        this.#length = 0;
        this.#multiplier = 1;
        continue;
      }
      this.#length += (byte & 0x7f) * this.#multiplier;
      this.#multiplier *= 128;
      this.#headerBytes++;
      if (byte & 0x80 && this.#headerBytes < 4) continue;
      this.#ended();
    }
  }

  skip(length: number): void {
    // Strings are written only inside bodies (topics, properties).
    if (this.#headerBytes !== -2) return;
    const take = Math.min(this.#bodyLeft, length);
    this.#bodyAt += take;
    this.#bodyLeft -= take;
    if (this.#bodyLeft === 0) this.#headerBytes = -1;
  }

  /** The fixed header has ended. */
  #ended(): void {
    // A PUBREC without a Reason Code (Remaining Length 2) is a success [MQTT-3.5.2-1].
    if (this.#type === PUBACK || this.#type === PUBCOMP) this.answered();
    this.#bodyAt = 0;
    this.#bodyLeft = this.#length;
    this.#headerBytes = this.#length === 0 ? -1 : -2;
  }
}
