// SaslAuthenticate (key 36), versions 0-2: one token of the SASL exchange that SaslHandshake v1
// started (KIP-152; KIP-368 adds session_lifetime_ms in v1). Flexible from v2.
// (SaslAuthenticateRequest.json / SaslAuthenticateResponse.json)
//
//   SaslAuthenticate Request => auth_bytes TAG_BUFFER
//     auth_bytes => BYTES (COMPACT_BYTES in v2)
//
//   SaslAuthenticate Response => error_code error_message auth_bytes session_lifetime_ms TAG_BUFFER
//     error_code => INT16            (SASL_AUTHENTICATION_FAILED, ILLEGAL_SASL_STATE)
//     error_message => NULLABLE_STRING
//     auth_bytes => BYTES            (the server's challenge or final message)
//     session_lifetime_ms => INT64   (v1+; 0: no re-authentication is asked for)
//
// A failure is answered SASL_AUTHENTICATION_FAILED with Kafka's own message (which names neither
// the user nor the cause, so that a client cannot learn who exists), logged with the user and the
// cause, and the connection is closed after the answer, as Kafka's broker does.
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';

export const SASL_AUTHENTICATION_FAILED_MESSAGE = 'Authentication failed: Invalid username or password';

export const saslAuthenticate: ApiHandler = {
  key: 36,
  name: 'SaslAuthenticate',
  minVersion: 0,
  maxVersion: 2,
  flexibleFrom: 2,
  async handle(request: Reader, version: number, context: RequestContext): Promise<Writer> {
    const flexible = isFlexible(this, version);
    const token = request.nullableBytes(flexible) ?? Buffer.alloc(0);
    if (flexible) request.taggedFields();
    const { session } = context;
    if (!session.exchanging || session.rawTokens) {
      session.closeAfterAnswer = true;
      context.logger.warn({ authenticated: session.authenticated }, 'Kafka SaslAuthenticate without a SaslHandshake v1 before it: connection closed');
      return write(version, flexible, ErrorCode.ILLEGAL_SASL_STATE, 'SaslAuthenticate needs a SaslHandshake (v1) first', Buffer.alloc(0));
    }
    const result = await session.token(token);
    if (result.kind === 'failed') return write(version, flexible, ErrorCode.SASL_AUTHENTICATION_FAILED, SASL_AUTHENTICATION_FAILED_MESSAGE, Buffer.alloc(0));
    return write(version, flexible, ErrorCode.NONE, null, result.bytes);
  },
};

function write(version: number, flexible: boolean, error: number, message: string | null, bytes: Buffer): Writer {
  const w = new Writer().int16(error).string(message, flexible);
  if (flexible) w.uvarint(bytes.length + 1);
  else w.int32(bytes.length);
  w.bytes(bytes);
  if (version >= 1) w.int64(0);
  if (flexible) w.taggedFields();
  return w;
}
