// User text in problems is quoted, escaped and bounded, so a spec file cannot forge or
// garble the output of `converge validate` (or a terminal): one problem is one line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProblem, loadFile } from '../../src/spec/load.js';
import { oneLine, quote } from '../../src/spec/quote.js';
import { parseBytes } from '../../src/spec/quantity.js';
import { parseReference } from '../../src/spec/reference.js';

const doc = (metadata: string, spec = '') =>
  `apiVersion: converge.dev/v1alpha1\nkind: Container\nmetadata:\n${metadata}spec:\n  image: busybox\n${spec}`;

/** Every formatted problem of a file, each checked to be one clean line. */
function lines(path: string, text: string): string[] {
  const out = loadFile(path, text).problems.map(formatProblem);
  for (const line of out) assert.doesNotMatch(line, /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u, JSON.stringify(line));
  return out;
}

test('quote: control characters escaped JSON-style, the quote mark and backslash too', () => {
  assert.equal(quote('plain'), "'plain'");
  assert.equal(quote('a\nb\tc\rd\u0000e\u001bf\u007f'), "'a\\nb\\tc\\rd\\u0000e\\u001bf\\u007f'");
  assert.equal(quote("it's a\\b"), "'it\\'s a\\\\b'");
  assert.equal(quote('say "hi"', { mark: '"' }), '"say \\"hi\\""');
  // C1 controls (0x9b is a terminal's CSI), bidi overrides, zero-width and line separators.
  assert.equal(quote('\u009b31m\u202eevil\u200b\u2028'), "'\\u009b31m\\u202eevil\\u200b\\u2028'");
  // A lone surrogate is escaped; a real pair (an emoji) and other letters are kept.
  assert.equal(quote('x\ud800y grüße 🚀'), "'x\\ud800y grüße 🚀'");
});

test('quote: long text is cut, with an ellipsis after the quote, never inside a character', () => {
  assert.equal(quote('abcdef', { max: 4 }), "'abcd'…");
  assert.equal(quote('abcd', { max: 4 }), "'abcd'");
  assert.equal(quote('abc🚀', { max: 4 }), "'abc'…");
  assert.equal(quote('x'.repeat(900_000)).length, 100 + 3);
});

test('oneLine: text from elsewhere keeps its words, loses its line breaks and control characters', () => {
  assert.equal(oneLine('unidentified alias "a\u001b[2J"\nforged: line'), 'unidentified alias "a\\u001b[2J"\\nforged: line');
  assert.equal(oneLine('x'.repeat(2000)).length, 1001);
});

test('a key with a newline is one problem on one line, not two', () => {
  const out = lines('a.yaml', doc('  name: web\n', '  "bad\\nspecs/b.yaml: forged": 1\n'));
  assert.deepEqual(out, ["a.yaml: document 0 (line 7): spec: unknown field 'bad\\nspecs/b.yaml: forged'"]);
});

test('escape sequences, NUL and bidi overrides in keys and values are escaped wherever they are repeated', () => {
  const out = lines('a.yaml', doc('  name: web\n  labels: {"x\\e[31m": v}\n', [
    '  "k\\0\\u202e": 1',
    '  env: [{name: "A\\e", value: x}, {name: "A\\e", value: y}]',
    '  mounts: [{type: tmpfs, target: "/t\\n"}, {type: tmpfs, target: "/t\\n"}]',
    '  dependsOn: ["d\\r", "d\\r"]',
    '  stopSignal: "SIG\\x9bX"',
    '',
  ].join('\n')));
  for (const want of [
    String.raw`metadata.labels["x\u001b[31m"]: must be a label key`,
    String.raw`spec: unknown field 'k\u0000\u202e'`,
    String.raw`spec.env[1].name: duplicate variable 'A\u001b' (also spec.env[0].name)`,
    String.raw`spec.mounts[1].target: mounts '/t\n' again (also spec.mounts[0].target)`,
    String.raw`spec.dependsOn[1]: lists 'd\r' twice`,
  ]) {
    assert.ok(out.some((line) => line.includes(want)), `${want}\nnot in\n${out.join('\n')}`);
  }
});

test('the containerd ID of an over-long name is quoted and bounded', () => {
  const [line] = lines('a.yaml', doc(`  name: "w\\n${'e'.repeat(200)}"\n`)).filter((l) => l.includes('containerd ID'));
  assert.match(line, /the containerd ID "default\.w\\ne{90}"… is 210,/);
});

test('a huge unknown key is named by its first 100 characters', () => {
  const out = lines('a.yaml', doc('  name: web\n', `  ${'k'.repeat(500_000)}: 1\n`));
  assert.deepEqual(out, [`a.yaml: document 0 (line 7): spec: unknown field '${'k'.repeat(100)}'…`]);
});

test('parser messages that repeat the input are escaped: YAML aliases, tags and keys', () => {
  assert.deepEqual(lines('a.yaml', 'a: *x\u001bc\u0085\n'), ['a.yaml: line 1: unidentified alias "x\\u001bc\\u0085"']);
  assert.deepEqual(lines('a.yaml', '"k\\e": 1\n"k\\e": 2\n'), ["a.yaml: line 2: duplicated mapping key 'k\\u001b'"]);
  assert.match(lines('a.yaml', 'a: !<tag:x\u0085> 1\n')[0], /tag:x\\u0085/);
});

test("JSON errors: V8's quote of the input (whole or cut short) is dropped, the bad character quoted", () => {
  assert.deepEqual(lines('a.json', '{"a": \u001b}'), ["a.json: line 1: Unexpected token '\\u001b'"]);
  const long = `{"apiVersion": "converge.dev/v1alpha1", "spec": {"image": busybox, "${'x'.repeat(60)}\u001b": 1}}`;
  assert.deepEqual(lines('a.json', long), ["a.json: line 1: Unexpected token 'b'"]);
  const deep = `${' '.repeat(40)}\n{"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14], "b": x}`;
  assert.deepEqual(lines('a.json', deep), ["a.json: line 2: Unexpected token 'x'"]);
  assert.deepEqual(lines('a.json', '{"a": \'x\'}'), ["a.json: line 1: Unexpected token '\\''"]);
});

test('a file name is shown as it is, with only what would garble the line escaped', () => {
  assert.equal(formatProblem({ file: 'specs/web.yaml', path: '', message: 'm' }), 'specs/web.yaml: m');
  assert.equal(formatProblem({ file: 'specs/a\nb.yaml', line: 2, path: 'x', message: 'm\u001b' }), 'specs/a\\nb.yaml: line 2: x: m\\u001b');
});

test('quantity and image reference errors quote the input', () => {
  assert.throws(() => parseBytes('1\nMB'), /memory quantity "1\\nMB" must be/);
  assert.throws(() => parseReference('a\u001b/b'), /invalid image reference 'a\\u001b\/b'/);
});
