// dependsOn across specs: the graph checks (cycles naming every member, dependencies outside
// the set), the schema's two forms of an entry, the desired store's report of a cycle, and
// `converge validate` finding a cycle that spans files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { validateCommand } from '../../src/cli/validate.js';
import { createDesiredStore } from '../../src/desired.js';
import { cycleProblems, dependencyCycles, formatCycle } from '../../src/spec/deps.js';
import { validateDocument } from '../../src/spec/schema.js';
import { toDesired } from '../../src/spec/resolve.js';
import type { ContainerSpecBody, DesiredContainer } from '../../src/spec/types.js';
import { containerDoc, desired, specYaml } from '../harness/specs.js';

/** The hash says what was written (as specHash would), so a changed dependsOn is a changed spec. */
const d = (name: string, dependsOn: ContainerSpecBody['dependsOn']): DesiredContainer => desired(name, { dependsOn }, JSON.stringify(dependsOn));

test('no cycle: a chain and a diamond', () => {
  assert.deepEqual(dependencyCycles([d('a', ['b']), d('b', ['c']), d('c', [])]), []);
  assert.deepEqual(dependencyCycles([d('a', ['b', 'c']), d('b', ['d']), d('c', ['d']), d('d', [])]), []);
});

test('a cycle names every member and one way round', () => {
  const cycles = dependencyCycles([d('a', ['b']), d('b', [{ name: 'c', condition: 'Healthy' }]), d('c', ['a']), d('x', ['a'])]);
  assert.equal(cycles.length, 1);
  assert.deepEqual(cycles[0].members, ['default/a', 'default/b', 'default/c']);
  assert.equal(formatCycle(cycles[0]), 'a -> b -> c -> a');
});

test('two cycles are two problems, one on each member', () => {
  const specs = [d('a', ['b']), d('b', ['a']), d('p', ['q']), d('q', ['r']), d('r', ['p'])];
  const problems = cycleProblems(specs);
  assert.deepEqual(problems.map((p) => p.key), ['default/a', 'default/b', 'default/p', 'default/q', 'default/r']);
  assert.equal(problems[0].path, 'spec.dependsOn');
  assert.equal(problems[0].file, '/specs/a.yaml');
  assert.match(problems[0].message, /^dependency cycle a -> b -> a \(members: a, b\)/);
  assert.match(problems[2].message, /^dependency cycle p -> q -> r -> p \(members: p, q, r\)/);
});

test('a strongly connected tangle lists all its members', () => {
  const cycles = dependencyCycles([d('a', ['b', 'c']), d('b', ['a']), d('c', ['a'])]);
  assert.equal(cycles.length, 1);
  assert.deepEqual(cycles[0].members, ['default/a', 'default/b', 'default/c']);
  assert.equal(formatCycle(cycles[0]), 'a -> b -> a');
});

test('dependencies outside the set are not followed (a missing one is the planner\'s to report)', () => {
  assert.deepEqual(dependencyCycles([d('a', ['missing'])]), []);
});

test('dependsOn entries: a name, or {name, condition}; anything else names what is wrong', () => {
  const doc = (dependsOn: unknown) => ({ ...containerDoc('web'), spec: { image: 'busybox', dependsOn } });
  assert.deepEqual(validateDocument(doc(['db', { name: 'migrate', condition: 'Completed' }, { name: 'cache' }])), []);
  assert.deepEqual(validateDocument(doc([{ name: 'db', condition: 'Ready' }])), [
    { path: 'spec.dependsOn[0].condition', message: 'must be one of Started, Healthy, Completed' },
  ]);
  assert.deepEqual(validateDocument(doc([{ condition: 'Healthy' }])), [{ path: 'spec.dependsOn[0].name', message: 'is required', linePath: 'spec.dependsOn[0]' }]);
  assert.deepEqual(validateDocument(doc([5])), [{ path: 'spec.dependsOn[0]', message: 'must be a string or a mapping' }]);
  assert.deepEqual(validateDocument(doc(['Db'])), [{ path: 'spec.dependsOn[0]', message: 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit' }]);
  assert.deepEqual(validateDocument(doc([{ name: 'web' }])), [{ path: 'spec.dependsOn[0].name', message: 'must not name the container itself' }]);
  assert.deepEqual(validateDocument(doc(['db', { name: 'db', condition: 'Healthy' }])), [{ path: 'spec.dependsOn[1].name', message: "lists 'db' twice" }]);
  const resolved = toDesired(doc(['db', { name: 'migrate', condition: 'Completed' }]) as never, 'dir:/x.yaml').resolved.dependsOn;
  assert.deepEqual(resolved, [{ key: 'default/db', condition: 'Started', restart: false }, { key: 'default/migrate', condition: 'Completed', restart: false }]);
});

test('the desired store reports a cycle across sources and tells its members when it is broken', () => {
  const store = createDesiredStore(['s1', 's2']);
  const changes: string[][] = [];
  store.onChange((keys) => changes.push(keys));
  store.update({ source: 's1', specs: [d('a', ['b'])], problems: [], complete: true });
  store.update({ source: 's2', specs: [d('b', ['a']), d('c', [])], problems: [], complete: true });
  assert.equal(store.cycle('default/a'), 'a -> b -> a');
  assert.equal(store.cycle('default/b'), 'a -> b -> a');
  assert.equal(store.cycle('default/c'), undefined);
  assert.deepEqual(store.problems().map((p) => p.key), ['default/a', 'default/b']);
  // Breaking it in s2 changes a's situation too, though a's spec did not change.
  store.update({ source: 's2', specs: [d('b', []), d('c', [])], problems: [], complete: true });
  assert.equal(store.cycle('default/a'), undefined);
  assert.deepEqual(changes.at(-1), ['default/a', 'default/b']);
  assert.deepEqual(store.problems(), []);
});

test('converge validate finds a cycle that spans files and exits 1', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'converge-deps-'));
  try {
    writeFileSync(path.join(dir, 'a.yaml'), specYaml('a', { spec: '  dependsOn: [b]\n' }));
    writeFileSync(path.join(dir, 'b.yaml'), specYaml('b', { spec: '  dependsOn: [{name: a, condition: Healthy}]\n' }));
    let out = '';
    const sink = new Writable({ write: (chunk, _e, cb) => ((out += String(chunk)), cb()) });
    assert.equal(await validateCommand([dir], sink), 1);
    assert.match(out, /a\.yaml: spec\.dependsOn: dependency cycle a -> b -> a \(members: a, b\)/);
    assert.match(out, /b\.yaml: spec\.dependsOn: dependency cycle a -> b -> a/);
    assert.match(out, /2 files checked, 2 containers, 2 problems/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
