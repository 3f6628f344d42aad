// InitProducerId (key 22), versions 0-5 (flexible from v2): gives an idempotent producer its
// producer id and epoch 0. Every request without a transactional id gets a new id, as Kafka's
// coordinator does for them (a producer id and epoch sent in v3+ are not looked at: an idempotent
// producer that needs a new epoch bumps it itself, KIP-360). Ids come from the log
// (Log.allocateProducerId): committed before they are handed out, so never reused, even after a
// restart or a SIGKILL. A transactional id is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
// this endpoint has no transactions, and clients treat that error as fatal and name it, rather
// than retrying. (InitProducerIdRequest.json / InitProducerIdResponse.json.)
//
//   InitProducerId Request => transactional_id transaction_timeout_ms producer_id producer_epoch TAG_BUFFER
//     transactional_id => NULLABLE_STRING, transaction_timeout_ms => INT32,
//     producer_id => INT64 (v3+), producer_epoch => INT16 (v3+)
//
//   InitProducerId Response => throttle_time_ms error_code producer_id producer_epoch TAG_BUFFER
//     throttle_time_ms => INT32, error_code => INT16, producer_id => INT64, producer_epoch => INT16
import type { Reader } from '../protocol/reader.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';
import { errorCodeOf } from './partition-errors.js';

export const initProducerId: ApiHandler = {
  key: 22,
  name: 'InitProducerId',
  minVersion: 0,
  maxVersion: 5,
  flexibleFrom: 2,
  async handle(request: Reader, version: number, context: RequestContext): Promise<Writer> {
    const flexible = isFlexible(this, version);
    const transactionalId = request.nullableString(flexible);
    request.int32(); // transaction_timeout_ms
    if (version >= 3) {
      request.int64(); // producer_id
      request.int16(); // producer_epoch
    }
    if (flexible) request.taggedFields();

    let errorCode: number = ErrorCode.NONE;
    let producerId = -1;
    if (transactionalId !== null) {
      errorCode = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
      context.logger.warn({ clientId: context.clientId, transactionalId }, 'InitProducerId with a transactional id refused: this endpoint has no transactions');
    } else {
      try {
        producerId = await context.log.allocateProducerId();
      } catch (err) {
        errorCode = errorCodeOf(err, context, { api: 'InitProducerId' });
      }
    }
    const w = new Writer().int32(0).int16(errorCode).int64(producerId).int16(producerId === -1 ? -1 : 0);
    if (flexible) w.taggedFields();
    return w;
  },
};
