// From an MQTT topic to where the publish is stored: the ordered rules of `mqtt.mapping` (first
// match wins), each a topic filter with named wildcards and two templates, for the log topic and
// the record key. Everything is checked at start-up; templates are compiled into parts so that
// routing a publish is a filter match and a string join.
import { ConfigInvalidError, type ConfigProblem } from '../../broker/errors.js';
import type { Config } from '../config/schema.js';
import { TopicFilter, TopicFilterError, type Captures } from './topic-filter.js';

/** A refusal's reason is one of a few fixed phrases (it is counted by reason); the detail names the case. */
export type Route = { topic: string; key: Buffer | null; rule: number } | { refused: string; detail: string };

type Part = { literal: string } | { capture: string } | { mqtt: 'topic' | 'clientId' };

const LOG_TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const SPECIAL: Record<string, 'topic' | 'clientId'> = { 'mqtt.topic': 'topic', 'mqtt.clientId': 'clientId' };

interface CompiledRule {
  filter: TopicFilter;
  topic: Part[];
  /** The topic when it has no placeholders: checked once at start-up. */
  fixedTopic: string | null;
  key: Part[] | null;
}

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

  /** What is wrong with the rules, keys relative to `mqtt.mapping`: the config schema reports these. */
  static problems(rules: Config['mqtt']['mapping']['rules']): ConfigProblem[] {
    return compileRules(rules).problems;
  }

  /** Where a publish goes; null when no rule matches. */
  route(mqttTopic: string, clientId: string): Route | null {
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      const captures = rule.filter.match(mqttTopic);
      if (captures === null) continue;
      const topic = rule.fixedTopic ?? render(rule.topic, captures, mqttTopic, clientId);
      // Captures come from devices: a topic built from them can still be no valid name.
      if (rule.fixedTopic === null && !LOG_TOPIC.test(topic)) return { refused: 'invalid log topic name', detail: `'${topic}' (rule ${i})` };
      const key = rule.key === null ? null : Buffer.from(render(rule.key, captures, mqttTopic, clientId));
      return { topic, key, rule: i };
    }
    return null;
  }
}

function compileRules(ruleConfigs: Config['mqtt']['mapping']['rules']): { rules: CompiledRule[]; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const rules: CompiledRule[] = [];
  ruleConfigs.forEach((rule, i) => {
    const at = `rules[${i}]`;
      let filter: TopicFilter;
      try {
        filter = new TopicFilter(rule.filter);
      } catch (err) {
        if (!(err instanceof TopicFilterError)) throw err;
        problems.push({ key: `${at}.filter`, message: err.message });
        return;
      }
      const topic = parseTemplate(rule.topic, filter, `${at}.topic`, problems);
      const key = rule.key === null ? null : parseTemplate(rule.key, filter, `${at}.key`, problems);
      if (topic === null || (rule.key !== null && key === null)) return;
      const fixedTopic = topic.every((p) => 'literal' in p) ? rule.topic : null;
      if (fixedTopic !== null && !LOG_TOPIC.test(fixedTopic)) {
        problems.push({ key: `${at}.topic`, message: `'${fixedTopic}' is not a log topic name (1-249 characters of A-Z a-z 0-9 . _ -)` });
      }
      rules.push({ filter, topic, fixedTopic, key });
  });
  return { rules, problems };
}

function render(parts: readonly Part[], captures: Captures, mqttTopic: string, clientId: string): string {
  let out = '';
  for (const part of parts) {
    if ('literal' in part) out += part.literal;
    else if ('capture' in part) out += captures[part.capture]!;
    else out += part.mqtt === 'topic' ? mqttTopic : clientId;
  }
  return out;
}

/** `telemetry.{site}` -> literal and placeholder parts; problems are collected, not thrown. */
function parseTemplate(template: string, filter: TopicFilter, key: string, problems: ConfigProblem[]): Part[] | null {
  const parts: Part[] = [];
  let ok = true;
  for (let i = 0; i < template.length; ) {
    const open = template.indexOf('{', i);
    const stray = template.indexOf('}', i);
    if (stray !== -1 && (open === -1 || stray < open)) {
      problems.push({ key, message: `unmatched '}' in '${template}'` });
      return null;
    }
    if (open === -1) {
      parts.push({ literal: template.slice(i) });
      break;
    }
    if (open > i) parts.push({ literal: template.slice(i, open) });
    const close = template.indexOf('}', open);
    if (close === -1) {
      problems.push({ key, message: `unclosed '{' in '${template}'` });
      return null;
    }
    const name = template.slice(open + 1, close);
    const special = SPECIAL[name];
    if (special !== undefined) parts.push({ mqtt: special });
    else if (filter.names.includes(name)) parts.push({ capture: name });
    else {
      const known = [...filter.names, ...Object.keys(SPECIAL)].map((n) => `{${n}}`).join(', ');
      problems.push({ key, message: `'{${name}}' is not a capture of '${filter.source}' (known: ${known})` });
      ok = false;
    }
    i = close + 1;
  }
  return ok ? parts : null;
}
