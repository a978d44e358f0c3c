// Tabs as separation in flow collections (`args: [a,\tb]`), which YAML 1.2 allows and
// js-yaml 5.5 refuses inside a block collection: accepted, with the same values as the same
// text with spaces; tabs as indentation are refused as before.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { load } from 'js-yaml';
import { SpecError } from '../../src/spec/errors.js';
import { parseDocuments } from '../../src/spec/yaml.js';

const SEED = 9;
const value = (text: string) => parseDocuments(text)[0].value;

test('tabs that separate inside or just before a flow collection are white space, as YAML 1.2 says', () => {
  const cases: Array<[string, unknown]> = [
    ['args: [a,\tb]\n', { args: ['a', 'b'] }],
    ['args: [\ta, b\t]\n', { args: ['a', 'b'] }],
    ['env: [{name:\tA, value:\tb}]\n', { env: [{ name: 'A', value: 'b' }] }],
    ['args:\t[a, b]\n', { args: ['a', 'b'] }],
    ['-\t[a]\n', [['a']]],
    ['a: &x\t[a]\nb: *x\n', { a: ['a'], b: ['a'] }],
    ['spec:\n  args: [a,\t"b\tc",\t\'d\']\n', { spec: { args: ['a', 'b\tc', 'd'] } }],
    ['a: [x\ty,\tz]  # a\tcomment\n', { a: ['x\ty', 'z'] }],
    ['k:\tv\nl: |\n  x\ty\nargs: [a,\tb]\n', { k: 'v', l: 'x\ty\n', args: ['a', 'b'] }],
    ['a: [p: q,\tr, {s:\t[t,\tu]}]\n', { a: [{ p: 'q' }, 'r', { s: ['t', 'u'] }] }],
    ['a: [b, # c\td\n  e,\tf]\n', { a: ['b', 'e', 'f'] }],
  ];
  for (const [text, want] of cases) assert.deepEqual(value(text), want, JSON.stringify(text));
});

test('tabs as indentation are still refused, with js-yaml\'s own error', () => {
  const cases: Array<[string, RegExp]> = [
    ['args: [a,\n\tb]\n', /deficient indentation/], // a flow line indented by a tab alone
    ['- \t[a]: b\n', /deficient indentation/], // the tab would indent a compact mapping
    ['-\t- a\n', /bad indentation of a sequence entry/],
    ['a:\n\tb: c\n', /tab characters must not be used in indentation/],
  ];
  for (const [text, want] of cases) {
    assert.throws(() => parseDocuments(text), (err: unknown) => err instanceof SpecError && err.code === 'YamlSyntax' && want.test(err.message), JSON.stringify(text));
  }
});

/** A flow node, as the text with tabs and as the same text with spaces in their place. */
type Pair = [tabs: string, spaces: string];

const blank = fc.constantFrom<Pair>(['', ''], [' ', ' '], ['\t', ' '], [' \t', '  '], ['\t\t', '  '], ['\n    \t', '\n     ']);
const white = fc.constantFrom<Pair>([' ', ' '], ['\t', ' '], ['\t ', '  ']);
const word = fc.stringMatching(/^[a-z][a-z0-9]{0,4}$/);
const scalar = fc.oneof(
  word.map((w): Pair => [w, w]),
  fc.stringMatching(/^[a-z \t]{0,6}$/).map((s): Pair => [`"${s}"`, `"${s}"`]), // a tab inside quotes is content
  fc.stringMatching(/^[a-z\t]{0,6}$/).map((s): Pair => [`'${s}'`, `'${s}'`]),
);
const join = (open: string, close: string, parts: Pair[][]): Pair => {
  const side = (k: 0 | 1) => `${open}${parts.map((p) => p.map((x) => x[k]).join('')).join(',')}${close}`;
  return [side(0), side(1)];
};
const { node } = fc.letrec<{ node: Pair; seq: Pair; map: Pair }>((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('seq'), tie('map')),
  seq: fc.array(fc.tuple(blank, tie('node'), blank), { maxLength: 4 }).map((items) => join('[', ']', items)),
  map: fc
    .uniqueArray(fc.tuple(blank, word, white, tie('node'), blank), { maxLength: 4, selector: ([, k]) => k })
    .map((entries) => join('{', '}', entries.map(([b1, k, w, v, b2]) => [b1, [k, k], [':', ':'], w, v, b2]))),
}));

test(`property: a flow collection with tabs parses as the same text with spaces (seed ${SEED})`, () => {
  const doc = fc.tuple(word, white, fc.oneof(node.filter(([t]) => t.startsWith('[') || t.startsWith('{'))), fc.boolean());
  fc.assert(
    fc.property(doc, ([key, sep, flow, inList]) => {
      const lead = inList ? '- ' : '';
      const tabs = `${lead}${key}:${sep[0]}${flow[0]}\n`;
      const spaces = `${lead}${key}:${sep[1]}${flow[1]}\n`;
      assert.deepEqual(value(tabs), load(spaces));
    }),
    { seed: SEED, numRuns: 400 },
  );
});
