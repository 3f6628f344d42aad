// One job: the MQTT 5.0 PUBACK / PUBREC reason code that tells a v5 publisher why its publish was
// refused [MQTT-3.4.2.1], by the refusal's reason (front-end.ts refusePublish). aedes answers with
// it (err.reasonCode, patches/ 006) and keeps the connection; MQTT 3.1.1 has no such code, so a
// 3.1.1 publisher is disconnected instead, as before.

export const PubackReasonCode = {
  unspecifiedError: 0x80,
  implementationSpecificError: 0x83,
  notAuthorized: 0x87,
  topicNameInvalid: 0x90,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
} as const;

/** The refusal reasons of the front end and what each tells a v5 publisher. */
const BY_REASON: Readonly<Record<string, number>> = {
  'not authorized': PubackReasonCode.notAuthorized,
  // "The Topic Name is not malformed, but is not accepted by this Client or Server."
  'topic too long': PubackReasonCode.topicNameInvalid,
  'no mapping rule matches': PubackReasonCode.topicNameInvalid,
  'invalid log topic name': PubackReasonCode.topicNameInvalid,
  // "The PUBLISH is valid but the receiver is not willing to accept it."
  'payload too large': PubackReasonCode.implementationSpecificError,
  'payload format invalid': PubackReasonCode.payloadFormatInvalid,
  'quota exceeded': PubackReasonCode.quotaExceeded,
  // A follower that forwards to the cluster leader takes QoS 0 and 1 only (docs/replication.md).
  'qos 2 not taken by a forwarding follower': PubackReasonCode.implementationSpecificError,
};

/** The reason code for a publish refused for `reason`; 0x80 (unspecified error) for any other. */
export function pubackReasonCode(reason: string): number {
  return BY_REASON[reason] ?? PubackReasonCode.unspecifiedError;
}

/**
 * MQTT 5.0 section 3.2.2.2 and 3.14.2.1: 0x89 (Server busy), valid in CONNACK and DISCONNECT (not in
 * PUBACK). A new connection is refused with it while the log holds publishes back (front-end.ts).
 */
export const SERVER_BUSY = 0x89;
