// DescribeConfigs (key 32), versions 0-4 (DescribeConfigsRequest.json / DescribeConfigsResponse.json):
// what admin tools (kafka-configs.sh, AdminClient.describeConfigs, kcat -L's tools) ask of a topic.
// Flexible from v4. The answers are the log's truth, not Kafka's defaults: retention.ms and
// retention.bytes are the topic's retention (-1 for none); the rest says how this log stores.
//
//   DescribeConfigs Request => [resources] include_synonyms include_documentation TAG_BUFFER
//     resources => resource_type resource_name [configuration_keys] TAG_BUFFER
//       resource_type => INT8 (2 topic, 4 broker), resource_name => STRING,
//       configuration_keys => nullable ARRAY of STRING (null: all)
//     include_synonyms => BOOLEAN (v1+), include_documentation => BOOLEAN (v3+)
//
//   DescribeConfigs Response => throttle_time_ms [results] TAG_BUFFER
//     results => error_code error_message resource_type resource_name [configs] TAG_BUFFER
//       configs => name value read_only is_default (v0) config_source (v1+) is_sensitive
//                  [synonyms] (v1+) config_type (v3+) documentation (v3+) TAG_BUFFER
//
// Every value is read-only here (topics are configured in the node's config file).
import { ErrorCode } from '../protocol/error-codes.js';
import type { Reader } from '../protocol/reader.js';
import { Writer } from '../protocol/writer.js';
import { isFlexible, type ApiHandler, type RequestContext } from './api.js';

const TOPIC = 2;
const BROKER = 4;
/** ConfigSource: from the topic's own settings, or the default for every topic. */
const TOPIC_CONFIG = 1;
const DEFAULT_CONFIG = 5;
/** ConfigType */
const STRING = 2;
const INT = 3;
const LONG = 5;

interface Config {
  name: string;
  value: string;
  source: number;
  type: number;
  documentation: string;
}

interface Result {
  error: number;
  message: string | null;
  type: number;
  name: string;
  configs: Config[];
}

export const describeConfigs: ApiHandler = {
  key: 32,
  name: 'DescribeConfigs',
  minVersion: 0,
  maxVersion: 4,
  flexibleFrom: 4,
  handle(request: Reader, version: number, context: RequestContext): Writer {
    const flexible = isFlexible(this, version);
    const resources = request.array(flexible, (r) => {
      const type = r.int8();
      const name = r.string(flexible);
      const keys = r.nullableArray(flexible, (r) => r.string(flexible));
      if (flexible) r.taggedFields();
      return { type, name, keys };
    });
    if (version >= 1) request.bool(); // include_synonyms: there are none
    if (version >= 3) request.bool(); // include_documentation: always sent, it is short
    if (flexible) request.taggedFields();
    const results = resources.map((res) => describe(context, res.type, res.name, res.keys));

    const w = new Writer();
    w.int32(0);
    w.array(results, flexible, (w, r) => {
      w.int16(r.error).string(r.message, flexible).int8(r.type).string(r.name, flexible);
      w.array(r.configs, flexible, (w, c) => {
        w.string(c.name, flexible).string(c.value, flexible).bool(true);
        if (version === 0) w.bool(c.source === DEFAULT_CONFIG);
        else w.int8(c.source);
        w.bool(false); // is_sensitive
        if (version >= 1) w.array([], flexible, () => {});
        if (version >= 3) w.int8(c.type).string(c.documentation, flexible);
        if (flexible) w.taggedFields();
      });
      if (flexible) w.taggedFields();
    });
    if (flexible) w.taggedFields();
    return w;
  },
};

function describe(context: RequestContext, type: number, name: string, keys: string[] | null): Result {
  const result = (configs: Config[]): Result => ({ error: 0, message: null, type, name, configs: keys === null ? configs : configs.filter((c) => keys.includes(c.name)) });
  if (type === BROKER) return result([]); // the node's settings are in its config file, not here
  if (type !== TOPIC) return { error: ErrorCode.INVALID_REQUEST, message: `resource type ${type} is not described by this node (topics: 2, broker: 4)`, type, name, configs: [] };
  // Checked before existence, as Fetch does, so that a user cannot probe for topic names.
  if (!context.authorize('read', name)) return { error: ErrorCode.TOPIC_AUTHORIZATION_FAILED, message: null, type, name, configs: [] };
  if (!context.log.topics().some((t) => t.name === name)) {
    return { error: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message: `no topic '${name}' in this node's log`, type, name, configs: [] };
  }
  const retention = context.log.retentionOf(name);
  return result([
    { name: 'retention.ms', value: String(retention.maxAgeMs ?? -1), source: TOPIC_CONFIG, type: LONG, documentation: 'log.retention.maxAge (or the topic\'s own): batches whose newest record is older are deleted; -1 keeps them' },
    { name: 'retention.bytes', value: String(retention.maxBytes ?? -1), source: TOPIC_CONFIG, type: LONG, documentation: 'log.retention.maxBytes (or the topic\'s own): the disk a partition may take; -1 is no cap' },
    { name: 'cleanup.policy', value: 'delete', source: DEFAULT_CONFIG, type: STRING, documentation: 'batches are deleted by retention; the log is never compacted' },
    { name: 'compression.type', value: 'uncompressed', source: DEFAULT_CONFIG, type: STRING, documentation: 'batches are stored uncompressed' },
    { name: 'message.timestamp.type', value: 'CreateTime', source: DEFAULT_CONFIG, type: STRING, documentation: 'a record keeps the time its producer (or the MQTT front end, at PUBLISH) gave it' },
    { name: 'min.insync.replicas', value: '1', source: DEFAULT_CONFIG, type: INT, documentation: 'one node: a record is committed once durable on it' },
  ]);
}
