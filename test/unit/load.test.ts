// Loading a file: documents -> validated, keyed, hashed containers; everything wrong as
// problems that name the file, document, line, field and what was expected.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileProblem, formatProblem, loadFile, readSpecFile } from '../../src/spec/load.js';
import { specHash } from '../../src/spec/hash.js';
import { FileTooLargeError } from '../../src/spec/errors.js';
import { validateCommand } from '../../src/cli/validate.js';
import { specYaml } from '../harness/specs.js';


test('a valid document becomes a keyed, hashed container with its origin', () => {
  const { specs, problems } = loadFile('specs/web.yaml', specYaml('web'));
  assert.deepEqual(problems, []);
  assert.equal(specs.length, 1);
  const [web] = specs;
  assert.equal(web.key, 'default/web');
  assert.equal(web.namespace, 'default');
  assert.equal(web.name, 'web');
  assert.equal(web.origin, `dir:${resolve('specs/web.yaml')}`);
  assert.equal(web.hash, specHash(web.spec));
  // Nothing is filled in: the namespace default lives in the key only.
  assert.equal(web.spec.metadata.namespace, undefined);
  assert.equal(web.spec.spec.restartPolicy, undefined);
});

test('the namespace makes part of the key; the origin can be given', () => {
  const { specs } = loadFile('x.yaml', specYaml('web', { metadata: '  namespace: shop\n' }), { origin: 'git:repo@abc:x.yaml' });
  assert.equal(specs[0].key, 'shop/web');
  assert.equal(specs[0].namespace, 'shop');
  assert.equal(specs[0].origin, 'git:repo@abc:x.yaml');
});

test('multi-document files: empty documents are skipped, a bad one gives only problems', () => {
  const text = [specYaml('a'), '# nothing\n', specYaml('b').replace('busybox', '""'), specYaml('c')].join('---\n');
  const { specs, problems } = loadFile('multi.yaml', text);
  assert.deepEqual(specs.map((s) => s.key), ['default/a', 'default/c']);
  assert.deepEqual(problems, [{ file: 'multi.yaml', document: 2, line: 15, path: 'spec.image', message: 'must not be empty' }]);
});

test('problems name file, document, line and field, sorted by line', () => {
  const text = `${specYaml('ok')}---
apiVersion: converge.dev/v1alpha1
kind: Container
metadata:
  name: web
spec:
  image: busybox
  imagePullPolicyy: Always
  restartPolicy: Sometimes
  mounts:
    - {type: tmpfs, target: /tmp}
    - type: bind
      target: data
`;
  const { specs, problems } = loadFile('specs/web.yaml', text);
  assert.deepEqual(specs.map((s) => s.key), ['default/ok']);
  assert.deepEqual(problems.map(formatProblem), [
    "specs/web.yaml: document 1 (line 14): spec: unknown field 'imagePullPolicyy' (did you mean 'imagePullPolicy'?)",
    'specs/web.yaml: document 1 (line 15): spec.restartPolicy: must be one of Always, OnFailure, Never',
    'specs/web.yaml: document 1 (line 18): spec.mounts[1].source: is required for a bind mount',
    'specs/web.yaml: document 1 (line 19): spec.mounts[1].target: must be an absolute path (starting with "/")',
  ]);
});

test('a key declared twice in one file: the first document keeps it', () => {
  const text = [specYaml('web'), specYaml('other'), specYaml('web', { metadata: '  namespace: default\n' })].join('---\n');
  const { specs, problems } = loadFile('dup.yaml', text);
  assert.deepEqual(specs.map((s) => s.key), ['default/web', 'default/other']);
  assert.equal(problems.length, 1);
  assert.deepEqual(
    { ...problems[0], message: undefined },
    { file: 'dup.yaml', document: 2, line: 18, path: 'metadata.name', key: 'default/web', message: undefined },
  );
  assert.match(problems[0].message, /default\/web is declared again \(first in document 0\)/);
});

test('a file that does not parse contributes one problem with its line and no specs', () => {
  const { specs, problems } = loadFile('bad.yaml', `${specYaml('a')}---\nmetadata: [\n`);
  assert.deepEqual(specs, []);
  assert.equal(problems.length, 1);
  assert.equal(problems[0].file, 'bad.yaml');
  assert.equal(problems[0].document, undefined);
  assert.equal(problems[0].line, 9); // the end of the file, where the flow sequence of line 8 is still open
  assert.match(formatProblem(problems[0]), /^bad\.yaml: line 9: /);
});

test('a document that is not a mapping is a problem of the document', () => {
  const { problems } = loadFile('list.yaml', '- a\n- b\n');
  assert.deepEqual(problems, [{ file: 'list.yaml', document: 0, line: 1, path: '', message: 'must be a mapping (a Container document)' }]);
});

test('JSON files load as one document', () => {
  const json = JSON.stringify({ apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name: 'j' }, spec: { image: 'busybox', restartPolicy: 'Nope' } }, null, 2);
  const { problems } = loadFile('j.json', json);
  assert.deepEqual(problems.map(formatProblem), ['j.json: document 0 (line 9): spec.restartPolicy: must be one of Always, OnFailure, Never']);
  const ok = loadFile('j.json', json.replace('Nope', 'Never'));
  assert.deepEqual(ok.specs.map((s) => s.key), ['default/j']);
});

test('reading from disk: missing and oversized files are problems, not exceptions', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-load-'));
  try {
    await assert.rejects(readSpecFile(join(dir, 'none.yaml')), (err: Error) => fileProblem(join(dir, 'none.yaml'), err).message === 'file does not exist');
    const big = join(dir, 'big.yaml');
    writeFileSync(big, `a: "${'x'.repeat(2000)}"\n`);
    await assert.rejects(readSpecFile(big, 1000), (err: Error) => err instanceof FileTooLargeError && /more than the limit of 1000 bytes/.test(fileProblem(big, err).message));
    const good = join(dir, 'good.yaml');
    writeFileSync(good, specYaml('disk'));
    assert.deepEqual(loadFile(good, await readSpecFile(good)).specs.map((s) => s.origin), [`dir:${good}`]);
    assert.equal(await readSpecFile(good), specYaml('disk'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('formatProblem in each of its shapes', () => {
  assert.equal(
    formatProblem({ file: 'specs/web.yaml', document: 1, line: 12, path: 'spec.restartPolicy', message: 'must be one of Always, OnFailure, Never' }),
    'specs/web.yaml: document 1 (line 12): spec.restartPolicy: must be one of Always, OnFailure, Never',
  );
  assert.equal(formatProblem({ file: 'a.yaml', document: 0, path: '', message: 'm' }), 'a.yaml: document 0: m');
  assert.equal(formatProblem({ file: 'a.yaml', line: 3, path: '', message: 'm' }), 'a.yaml: line 3: m');
  assert.equal(formatProblem({ file: '/d', path: '', message: 'directory does not exist' }), '/d: directory does not exist');
  assert.deepEqual(fileProblem('x', new Error('boom')), { file: 'x', path: '', message: 'boom' });
});

test('validateCommand: files and directories, every problem printed, exit code 1 on any, 0 when clean', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-validate-'));
  const run = async (paths: string[]) => {
    let text = '';
    const out = new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) });
    const code = await validateCommand(paths, out);
    return { code, lines: text.trimEnd().split('\n') };
  };
  try {
    writeFileSync(join(dir, 'a.yaml'), specYaml('web'));
    writeFileSync(join(dir, 'b.yml'), specYaml('db'));
    writeFileSync(join(dir, 'a.yaml~'), 'not: [valid'); // a backup: not picked from a directory
    const clean = await run([dir]);
    assert.equal(clean.code, 0);
    assert.deepEqual(clean.lines, ['2 files checked, 2 containers, 0 problems']);

    writeFileSync(join(dir, 'c.json'), JSON.stringify({ apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name: 'web' }, spec: { image: 'x' } }));
    writeFileSync(join(dir, 'd.yaml'), specYaml('bad').replace('busybox', '""'));
    const dirty = await run([dir, join(dir, 'a.yaml~'), join(dir, 'none.yaml')]);
    assert.equal(dirty.code, 1);
    assert.deepEqual(dirty.lines, [
      `${join(dir, 'none.yaml')}: does not exist`,
      `${join(dir, 'c.json')}: metadata.name: default/web is also declared in ${join(dir, 'a.yaml')}`,
      `${join(dir, 'd.yaml')}: document 0 (line 6): spec.image: must not be empty`,
      `${join(dir, 'a.yaml~')}: line 1: unexpected end of the stream within a flow collection`,
      '5 files checked, 2 containers, 4 problems',
    ]);
    assert.equal((await run([])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
