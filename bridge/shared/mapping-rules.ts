// The language of `mqtt.mapping` rules: a topic filter with named wildcards and two templates (the
// log topic and the record key) made of literals and `{placeholders}`. Compiling a rule is pure
// (no I/O, nothing of ours imported), so the config schema reports a rule's problems with all
// others and the MQTT front end routes with the same compiled rules (bridge/mqtt/mapping.ts).
import { isTopicName, TOPIC_NAME_RULE } from '../../broker/log/topic-name.js';
import { TopicFilter, TopicFilterError, type Captures } from './topic-filter.js';

/** A rule as written in config: `key: null` stores no key. */
export interface MappingRuleSource {
  filter: string;
  topic: string;
  key: string | null;
}

/** One problem: the key relative to `mqtt.mapping` (`rules[0].topic`) and what is wrong. */
export interface MappingRuleProblem {
  key: string;
  message: string;
}

/** `{user.NAME}`: the value of the publish's MQTT 5.0 User Property NAME (the first, if given more than once). */
export type TemplatePart = { literal: string } | { capture: string } | { mqtt: 'topic' | 'clientId' } | { user: string };

/** An MQTT 5.0 publish's User Properties as mqtt-packet reads them: a name given twice has an array. */
export type UserProperties = Readonly<Record<string, string | readonly string[]>>;

export interface CompiledRule {
  filter: TopicFilter;
  topic: TemplatePart[];
  /** The topic when it has no placeholders: checked once at start-up. */
  fixedTopic: string | null;
  key: TemplatePart[] | null;
  /** The User Properties the templates name: the rule matches only a publish that has them all. */
  userProperties: readonly string[];
}

const SPECIAL: Record<string, 'topic' | 'clientId'> = { 'mqtt.topic': 'topic', 'mqtt.clientId': 'clientId' };
const USER_PREFIX = 'user.';

/**
 * Whether `name` can be a log topic's name (Kafka's rule: broker/log/topic-name.ts) that a device's
 * publish may reach: not an internal topic (`__tributary_*`, the node's own: docs/replication.md).
 */
export function isLogTopicName(name: string): boolean {
  return isTopicName(name) && !name.startsWith('__tributary_');
}

/** Compiles every rule it can; problems are collected, not thrown. */
export function compileRules(ruleConfigs: readonly MappingRuleSource[]): { rules: CompiledRule[]; problems: MappingRuleProblem[] } {
  const problems: MappingRuleProblem[] = [];
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
    if (fixedTopic !== null && !isTopicName(fixedTopic)) {
      problems.push({ key: `${at}.topic`, message: `'${fixedTopic}' is not a log topic name (${TOPIC_NAME_RULE})` });
    }
    const userProperties = [...new Set([...topic, ...(key ?? [])].flatMap((p) => ('user' in p ? [p.user] : [])))];
    rules.push({ filter, topic, fixedTopic, key, userProperties });
  });
  return { rules, problems };
}

/** Whether `userProperties` has every User Property the rule names (a rule naming none: always). */
export function hasUserProperties(rule: CompiledRule, userProperties: UserProperties | undefined): boolean {
  return rule.userProperties.every((name) => userProperties !== undefined && Object.hasOwn(userProperties, name));
}

/** A compiled template filled in for one publish (which has the User Properties it names: hasUserProperties). */
export function render(parts: readonly TemplatePart[], captures: Captures, mqttTopic: string, clientId: string, userProperties?: UserProperties): string {
  let out = '';
  for (const part of parts) {
    if ('literal' in part) out += part.literal;
    else if ('capture' in part) out += captures[part.capture]!;
    else if ('user' in part) out += firstValue(userProperties![part.user]!);
    else out += part.mqtt === 'topic' ? mqttTopic : clientId;
  }
  return out;
}

function firstValue(value: string | readonly string[]): string {
  return typeof value === 'string' ? value : (value[0] ?? '');
}

/** `telemetry.{site}` -> literal and placeholder parts; problems are collected, not thrown. */
function parseTemplate(template: string, filter: TopicFilter, key: string, problems: MappingRuleProblem[]): TemplatePart[] | null {
  const parts: TemplatePart[] = [];
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
    else if (name.startsWith(USER_PREFIX) && name.length > USER_PREFIX.length) parts.push({ user: name.slice(USER_PREFIX.length) });
    else {
      const known = [...filter.names, ...Object.keys(SPECIAL)].map((n) => `{${n}}`).join(', ');
      problems.push({ key, message: `'{${name}}' is not a capture of '${filter.source}' (known: ${known})` });
      ok = false;
    }
    i = close + 1;
  }
  return ok ? parts : null;
}
