// SaslHandshake (key 17), versions 0-1: the client names a SASL mechanism (KIP-43; KIP-152 for
// v1). After v0 the mechanism's tokens follow as bare size-prefixed frames; after v1 they travel in
// SaslAuthenticate requests. (SaslHandshakeRequest.json / SaslHandshakeResponse.json; never flexible.)
//
//   SaslHandshake Request => mechanism
//     mechanism => STRING
//
//   SaslHandshake Response => error_code [mechanisms]
//     error_code => INT16   (UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE)
//     mechanisms => STRING  (the mechanisms kafka.sasl.mechanisms enables)
//
// A mechanism not enabled, or a second handshake, closes the connection after the answer (the
// client gives up on it anyway; Kafka's broker does the same).
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import type { ApiHandler, RequestContext } from './api.js';

export const saslHandshake: ApiHandler = {
  key: 17,
  name: 'SaslHandshake',
  minVersion: 0,
  maxVersion: 1,
  flexibleFrom: Number.POSITIVE_INFINITY,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const mechanism = request.string(false);
    const { session } = context;
    const refused = session.begin(mechanism, version);
    if (refused !== null) {
      session.closeAfterAnswer = true;
      context.logger.warn({ mechanism, offered: session.security.mechanisms, reason: refused }, 'Kafka SASL handshake refused');
    }
    const error = refused === null ? ErrorCode.NONE : refused === 'illegal state' ? ErrorCode.ILLEGAL_SASL_STATE : ErrorCode.UNSUPPORTED_SASL_MECHANISM;
    return new Writer().int16(error).array(session.security.mechanisms, false, (w, m) => w.string(m, false));
  },
};
