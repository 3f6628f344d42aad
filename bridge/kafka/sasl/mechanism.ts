// One SASL exchange on the server side: tokens in, challenges out, until the client is proven (or
// not). The mechanisms: PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677).
export type SaslStep =
  /** Send this to the client and wait for its next token. */
  | { kind: 'challenge'; bytes: Buffer }
  /** The client is `user`; send `bytes` (SCRAM's server-final message; empty for PLAIN). */
  | { kind: 'done'; user: string; bytes: Buffer }
  /** Refused; `user` (null when the token did not name one) and `reason` are for the log line, never for the client. */
  | { kind: 'failed'; user: string | null; reason: string };

export interface SaslMechanismServer {
  step(token: Buffer): Promise<SaslStep>;
}
