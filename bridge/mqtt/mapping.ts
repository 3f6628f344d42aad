// From an MQTT topic to where the publish is stored: the ordered rules of `mqtt.mapping` (first
// match wins), each a topic filter with named wildcards and two templates, for the log topic and
// the record key. Everything is checked at start-up; templates are compiled into parts so that
// routing a publish is a filter match and a string join. The rules' language (parsing and
// checking) lives in bridge/shared/mapping-rules.ts, which the config schema uses too.
import { ConfigInvalidError } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import { compileRules, hasUserProperties, isLogTopicName, render, type CompiledRule, type UserProperties } from '../shared/mapping-rules.js';

/** A refusal's reason is one of a few fixed phrases (it is counted by reason); the detail names the case. */
export type Route = { topic: string; key: Buffer | null; rule: number } | { refused: string; detail: string };

export class TopicMapper {
  private constructor(private readonly rules: readonly CompiledRule[]) {}

  /** Compiles the rules; throws ConfigInvalidError naming every problem. */
  static compile(mapping: Pick<Config['mqtt']['mapping'], 'rules'>): TopicMapper {
    const { rules, problems } = compileRules(mapping.rules);
    if (problems.length > 0) {
      throw new ConfigInvalidError(problems.map((p) => ({ ...p, key: `mqtt.mapping.${p.key}` })), 'mqtt.mapping');
    }
    return new TopicMapper(rules);
  }

  /**
   * Where a publish goes; null when no rule matches. A rule whose templates name User Properties
   * (`{user.deviceId}`) matches only a publish that has them (an MQTT 5.0 one): another goes on to
   * the next rule.
   */
  route(mqttTopic: string, clientId: string, userProperties?: UserProperties): Route | null {
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      const captures = rule.filter.match(mqttTopic);
      if (captures === null || !hasUserProperties(rule, userProperties)) continue;
      const topic = rule.fixedTopic ?? render(rule.topic, captures, mqttTopic, clientId, userProperties);
      // Captures come from devices: a topic built from them can still be no valid name.
      if (rule.fixedTopic === null && !isLogTopicName(topic)) return { refused: 'invalid log topic name', detail: `'${topic}' (rule ${i})` };
      const key = rule.key === null ? null : Buffer.from(render(rule.key, captures, mqttTopic, clientId, userProperties));
      return { topic, key, rule: i };
    }
    return null;
  }
}
