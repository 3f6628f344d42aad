// MQTT topic filters [MQTT-4.7], with one extension of ours: a wildcard may carry a name
// (`factory/+site/+line/#rest`) so that mapping rules can use what it matched. Plain filters
// (`a/+/#`) are the same filters every MQTT broker knows.

/** What a filter's named wildcards matched; `#name` gets the remaining levels joined by '/'. */
export type Captures = Record<string, string>;

type Level = { kind: 'literal'; text: string } | { kind: 'one'; name: string | null } | { kind: 'rest'; name: string | null };

export class TopicFilterError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class TopicFilter {
  readonly source: string;
  readonly names: readonly string[];
  readonly #levels: Level[];

  constructor(source: string) {
    if (source.length === 0) throw new TopicFilterError('a topic filter cannot be empty');
    this.source = source;
    this.#levels = source.split('/').map((text, i, all) => parseLevel(text, i === all.length - 1));
    this.names = this.#levels.flatMap((l) => (l.kind !== 'literal' && l.name !== null ? [l.name] : []));
    if (new Set(this.names).size !== this.names.length) throw new TopicFilterError(`'${source}' names a wildcard twice`);
    this.#matchesAll = this.#levels.length === 1 && this.#levels[0]!.kind === 'rest' && this.names.length === 0;
  }

  readonly #matchesAll: boolean;

  /** The captures if `topic` (a topic name, no wildcards) matches, else null. */
  match(topic: string): Captures | null {
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match topics starting with '$'.
    if (topic.startsWith('$') && this.#levels[0]?.kind !== 'literal') return null;
    if (this.#matchesAll) return {}; // '#' alone: the default mapping rule, once per publish
    const parts = topic.split('/');
    const captures: Captures = {};
    for (let i = 0; i < this.#levels.length; i++) {
      const level = this.#levels[i]!;
      if (level.kind === 'rest') {
        // [MQTT-4.7.1-2] 'a/#' also matches 'a' itself.
        if (level.name !== null) captures[level.name] = parts.slice(i).join('/');
        return captures;
      }
      const part = parts[i];
      if (part === undefined) return null;
      if (level.kind === 'one') {
        if (level.name !== null) captures[level.name] = part;
      } else if (level.text !== part) return null;
    }
    return parts.length === this.#levels.length ? captures : null;
  }

  /**
   * Whether every topic that filter `other` can match is also matched by this one: what a
   * subscribe ACL asks of a SUBSCRIBE's filter. `a/#` covers `a/+/c`; `a/+` does not cover `a/#`.
   */
  covers(other: TopicFilter): boolean {
    const theirs = other.#levels;
    for (let i = 0; i < this.#levels.length; i++) {
      const mine = this.#levels[i]!;
      if (mine.kind === 'rest') return true;
      const level = theirs[i];
      if (level === undefined || level.kind === 'rest') return false;
      if (mine.kind === 'one') continue;
      if (level.kind !== 'literal' || level.text !== mine.text) return false;
    }
    return theirs.length === this.#levels.length;
  }
}

function parseLevel(text: string, last: boolean): Level {
  const wildcard = text[0] === '+' ? 'one' : text[0] === '#' ? 'rest' : null;
  if (wildcard === null) {
    if (text.includes('+') || text.includes('#')) throw new TopicFilterError(`'${text}': a wildcard must take a whole level`);
    return { kind: 'literal', text };
  }
  if (wildcard === 'rest' && !last) throw new TopicFilterError(`'#' must be the last level`);
  const name = text.slice(1);
  if (name !== '' && !NAME.test(name)) throw new TopicFilterError(`'${text}': a wildcard's name is letters, digits and _`);
  return { kind: wildcard, name: name === '' ? null : name };
}
