import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isJsonText } from '../../../bridge/replay/json-check.js';

function agrees(text: string): void {
  let expected = true;
  try {
    JSON.parse(text);
  } catch {
    expected = false;
  }
  assert.equal(isJsonText(Buffer.from(text, 'utf8')), expected, JSON.stringify(text));
}

test('hand-picked JSON and near-JSON: the same answer as JSON.parse', () => {
  const cases = [
    '{}', '[]', '""', '0', '-0', '1.5e10', '-1.25E-3', '1e+2', 'true', 'false', 'null', ' \t\r\n{"a" : [1, 2.0, {"b": null}], "c": "\\u00e9\\n\\"\\\\\\/"} \n',
    '"héllo ☃ 𝄞"', '[[[[[]]]]]', '{"a":1,"a":2}',
    '', ' ', '{', '}', '[1,]', '{"a":1,}', '{a:1}', "{'a':1}", '01', '-', '1.', '.5', '1e', '+1', 'NaN', 'Infinity', 'tru', 'nulls', 'True',
    '"unterminated', '"tab\there"', '"bad \\x escape"', '"\\u12g4"', '"\\u123"', '[1 2]', '{"a" 1}', '1 2', '{"a":1}}', '[1]]', '"\\', '[', '{"a":',
    '\u00a0{}', '{}\u2028', '0x10', '1_000', '[-]', '[--1]', '{"a":tru}',
  ];
  for (const c of cases) agrees(c);
});

test('generated inputs: the same answer as JSON.parse', () => {
  // Tokens that make valid JSON often and almost-JSON more often; a fixed-seed generator so a
  // failure reproduces.
  const tokens = ['{', '}', '[', ']', ',', ':', '"a"', '"b\\n"', '"', '\\', '0', '1', '-', '.', 'e', '+', '5', 'true', 'false', 'null', ' ', '\n', 'x', '"\\u0041"', '"é"', '\t'];
  let seed = 12345;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let valid = 0;
  for (let i = 0; i < 30_000; i++) {
    let text = '';
    const length = 1 + random(12);
    for (let k = 0; k < length; k++) text += tokens[random(tokens.length)];
    agrees(text);
    try {
      JSON.parse(text);
      valid++;
    } catch {
      // most are not
    }
  }
  // Also real values, printed by JSON.stringify, compact and pretty.
  for (let i = 0; i < 2000; i++) {
    const v = { n: random(1000) - 500, f: random(100000) / 7, s: 'x'.repeat(random(5)) + '"\\\u0001', a: [random(3) === 0 ? null : true, [], {}], nested: { deeper: [1e21, -1e-7] } };
    agrees(JSON.stringify(v));
    agrees(JSON.stringify(v, null, 2));
  }
  assert.ok(valid > 500, `the generator made ${valid} valid texts`);
});

test('nesting deeper than the checker walks is still answered (by JSON.parse)', () => {
  agrees('['.repeat(5000) + ']'.repeat(5000));
  agrees('['.repeat(5000) + ']'.repeat(4999));
  agrees('{"a":'.repeat(1000) + '1' + '}'.repeat(1000));
});
