// Bounded YAML/JSON parsing: hostile input is refused quickly, errors carry lines, and only
// the core schema is understood.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpecError } from '../../src/spec/errors.js';
import { DEFAULT_MAX_BYTES, fieldPath, lineOf, parseDocuments } from '../../src/spec/yaml.js';

function refused(fn: () => unknown, code: string, line?: number): SpecError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SpecError, `expected a SpecError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (line !== undefined) assert.equal(caught.line, line, caught.message);
  return caught;
}

test('a billion-laughs file is refused (by a count of the nodes aliases reach, before expanding them)', () => {
  let text = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 1; i < 10; i++) text += `a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(',')}]\n`;
  const err = refused(() => parseDocuments(text), 'TooManyAliases');
  assert.match(err.message, /more than 100000 nodes through aliases/);
});

test('a doubling chain of 100 aliases (2^100 nodes) is refused, not expanded', () => {
  let text = 'a0: &a0 [x, x]\n';
  for (let i = 1; i < 100; i++) text += `a${i}: &a${i} [*a${i - 1}, *a${i - 1}]\n`;
  refused(() => parseDocuments(text), 'TooManyAliases');
});

test('modest use of anchors, aliases and merge keys is fine', () => {
  const text = 'base: &base {image: busybox, restartPolicy: Always}\nweb:\n  <<: *base\n  hostname: web\nlist: [*base, *base]\n';
  const [doc] = parseDocuments(text);
  assert.deepEqual(doc.value, {
    base: { image: 'busybox', restartPolicy: 'Always' },
    web: { image: 'busybox', restartPolicy: 'Always', hostname: 'web' },
    list: [{ image: 'busybox', restartPolicy: 'Always' }, { image: 'busybox', restartPolicy: 'Always' }],
  });
});

test('files over the size limit are refused before parsing', () => {
  const big = `a: "${'x'.repeat(DEFAULT_MAX_BYTES)}"\n`;
  const err = refused(() => parseDocuments(big), 'FileTooLarge');
  assert.match(err.message, new RegExp(`more than the limit of ${DEFAULT_MAX_BYTES} bytes`));
  refused(() => parseDocuments('a: 1234567890\n', { maxBytes: 10 }), 'FileTooLarge');
  assert.equal(parseDocuments('a: 1\n', { maxBytes: 10 }).length, 1);
});

test('multi-document files give one entry per document, empty ones as null', () => {
  const docs = parseDocuments('a: 1\n---\n# only a comment\n---\nb: 2\n---\n');
  assert.deepEqual(docs.map((d) => [d.index, d.value]), [[0, { a: 1 }], [1, null], [2, { b: 2 }], [3, null]]);
  assert.deepEqual(parseDocuments(''), []);
  refused(() => parseDocuments('---\na: 1\n'.repeat(5), { maxDocuments: 4 }), 'TooManyDocuments');
});

test('syntax errors carry the 1-based line', () => {
  refused(() => parseDocuments('a: 1\nb: [\n  c: d\n'), 'YamlSyntax', 4);
  refused(() => parseDocuments('a: 1\n  b: 2\n'), 'YamlSyntax', 2);
  const dup = refused(() => parseDocuments('a: 1\nb: 2\na: 3\n'), 'YamlSyntax', 3);
  assert.match(dup.message, /duplicated mapping key 'a'/);
});

test('every field path has its line, and lookups fall back to the nearest ancestor', () => {
  const text = ['metadata:', '  name: web', 'spec:', '  image: busybox', '  mounts:', '    - type: bind', '      target: /data', '    - {type: tmpfs, target: /tmp}', '  labels: {"a.b/c": x}'].join('\n');
  const [doc] = parseDocuments(text);
  assert.equal(doc.lines.get(''), 1);
  assert.equal(doc.lines.get('metadata.name'), 2);
  assert.equal(doc.lines.get('spec.mounts'), 5);
  assert.equal(doc.lines.get('spec.mounts[0]'), 6);
  assert.equal(doc.lines.get('spec.mounts[0].target'), 7);
  assert.equal(doc.lines.get('spec.mounts[1].target'), 8);
  assert.equal(doc.lines.get('spec.labels["a.b/c"]'), 9);
  assert.equal(lineOf(doc.lines, 'spec.mounts[0].source'), 6);
  assert.equal(lineOf(doc.lines, 'spec.nothing.here'), 3);
});

test('field paths: dots for names, brackets for indexes and odd keys', () => {
  assert.equal(fieldPath('', 'spec'), 'spec');
  assert.equal(fieldPath('spec', 'mounts'), 'spec.mounts');
  assert.equal(fieldPath('spec.mounts', 1), 'spec.mounts[1]');
  assert.equal(fieldPath('metadata.labels', 'app.kubernetes.io/name'), 'metadata.labels["app.kubernetes.io/name"]');
});

test('custom and language-specific tags are refused', () => {
  refused(() => parseDocuments('a: !foo 1\n'), 'YamlSyntax', 1);
  refused(() => parseDocuments('x: 1\na: !!js/function "function(){}"\n'), 'YamlSyntax', 2);
  refused(() => parseDocuments('a: !!binary aGk=\n'), 'YamlSyntax');
  refused(() => parseDocuments('a: !!timestamp 2001-01-01\n'), 'YamlSyntax');
  // Standard core tags are fine.
  assert.deepEqual(parseDocuments('a: !!str 1\n')[0].value, { a: '1' });
});

test('the core schema: yes/no and dates stay strings, ints and floats are numbers', () => {
  assert.deepEqual(parseDocuments('a: yes\nb: 2001-01-01\nc: 10\nd: 1.5\ne: true\nf: ~\n')[0].value, {
    a: 'yes', b: '2001-01-01', c: 10, d: 1.5, e: true, f: null,
  });
});

test('JSON files parse as one document, with lines for errors and fields', () => {
  const docs = parseDocuments('{"a": 1,\n "b": [1,\n {"c": 2}]}', { json: true });
  assert.equal(docs.length, 1);
  assert.deepEqual(docs[0].value, { a: 1, b: [1, { c: 2 }] });
  assert.equal(docs[0].lines.get('b[1].c'), 3);
  const syntax = refused(() => parseDocuments('{"a": 1,\n "b": }', { json: true }), 'JsonSyntax', 2);
  assert.doesNotMatch(syntax.message, /\n/);
  refused(() => parseDocuments('{"a": 1,\n\n "a": 2}', { json: true }), 'JsonSyntax', 3);
  refused(() => parseDocuments('{"a": 1}\n\n\nx', { json: true }), 'JsonSyntax', 4);
  refused(() => parseDocuments('', { json: true }), 'JsonSyntax');
});
