// The desired store: merging sources, first claimant wins without flapping, hand-over when
// the holder lets go, change notification by key, and readiness.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OPEN_GATE, createDesiredStore, sourceOwns, type Gate } from '../../src/desired.js';
import { desired } from '../harness/specs.js';
import type { DesiredContainer, Key, Snapshot } from '../../src/spec/types.js';

function c(name: string, origin: string, hash = 'h1', namespace = 'default'): DesiredContainer {
  return desired(name, {}, hash, origin, { namespace });
}

function snap(source: string, specs: DesiredContainer[], complete = true): Snapshot {
  return { source, specs, problems: [], complete };
}

function recorder() {
  const calls: Key[][] = [];
  return { calls, listener: (keys: Key[]) => calls.push(keys) };
}

/** The store's rules without the empty-source hold, for tests about claims alone. */
const ALLOW_EMPTY: Gate = { ...OPEN_GATE, allowEmpty: () => true };

const holderOf = (store: ReturnType<typeof createDesiredStore>, key: Key) => store.desired().get(key)?.origin;

test('one source: specs become the desired map and changes are reported by key', () => {
  const store = createDesiredStore(['dir:/s']);
  const rec = recorder();
  store.onChange(rec.listener);
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml'), c('b', 'dir:/s/b.yaml')]));
  assert.deepEqual([...store.desired().keys()].sort(), ['default/a', 'default/b']);
  assert.deepEqual(rec.calls, [['default/a', 'default/b']]);

  // The same snapshot again: nothing changed, nobody is told.
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml'), c('b', 'dir:/s/b.yaml')]));
  assert.equal(rec.calls.length, 1);

  // A new hash for a, b removed, c added: exactly those keys.
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml', 'h2'), c('c', 'dir:/s/c.yaml')]));
  assert.deepEqual(rec.calls[1], ['default/a', 'default/b', 'default/c']);
  assert.equal(store.desired().get('default/a')?.hash, 'h2');
  assert.equal(store.desired().has('default/b'), false);
});

test('the same key in two files of one snapshot: the first in snapshot order wins, the other is a problem', () => {
  const store = createDesiredStore(['dir:/s']);
  store.update(snap('dir:/s', [c('web', 'dir:/s/a.yaml', 'ha'), c('web', 'dir:/s/b.yaml', 'hb')]));
  assert.equal(holderOf(store, 'default/web'), 'dir:/s/a.yaml');
  const problems = store.problems();
  assert.equal(problems.length, 1);
  assert.equal(problems[0].file, '/s/b.yaml');
  assert.equal(problems[0].key, 'default/web');
  assert.equal(problems[0].path, 'metadata.name');
  assert.match(problems[0].message, /conflicts with dir:\/s\/a\.yaml/);
});

test('a newcomer never takes a key over, however often either side changes: no flapping', () => {
  const store = createDesiredStore(['dir:/one', 'kube']);
  const rec = recorder();
  store.onChange(rec.listener);
  store.update(snap('dir:/one', [c('web', 'dir:/one/web.yaml', 'h1')]));
  store.update(snap('kube', [c('web', 'kube:default/web', 'k1')]));
  assert.equal(holderOf(store, 'default/web'), 'dir:/one/web.yaml');
  for (let i = 0; i < 5; i++) {
    store.update(snap('kube', [c('web', 'kube:default/web', `k${i + 2}`)]));
    store.update(snap('dir:/one', [c('web', 'dir:/one/web.yaml', 'h1')]));
    assert.equal(holderOf(store, 'default/web'), 'dir:/one/web.yaml');
  }
  // Only the holder's first appearance was a change (and the second source's first
  // snapshot made the store ready); the loser's edits are not changes.
  assert.deepEqual(rec.calls, [['default/web'], []]);
  // The holder's own edits are changes, and it keeps the key.
  store.update(snap('dir:/one', [c('web', 'dir:/one/web.yaml', 'h9')]));
  assert.equal(store.desired().get('default/web')?.hash, 'h9');
  assert.deepEqual(rec.calls.at(-1), ['default/web']);
  assert.equal(store.problems().filter((p) => p.key === 'default/web').length, 1);
});

test('when the holder lets go the next claimant gets the key, and keeps it when the first comes back', () => {
  const store = createDesiredStore(['dir:/s'], ALLOW_EMPTY);
  const rec = recorder();
  store.onChange(rec.listener);
  const a = c('web', 'dir:/s/a.yaml', 'ha');
  const b = c('web', 'dir:/s/b.yaml', 'hb');
  const x = c('web', 'dir:/s/x.yaml', 'hx');
  store.update(snap('dir:/s', [a, b, x]));
  assert.equal(holderOf(store, 'default/web'), 'dir:/s/a.yaml');

  store.update(snap('dir:/s', [b, x])); // a.yaml deleted
  assert.equal(holderOf(store, 'default/web'), 'dir:/s/b.yaml');
  assert.deepEqual(rec.calls.at(-1), ['default/web']);

  store.update(snap('dir:/s', [a, b, x])); // a.yaml back: b keeps it, a waits in line after x
  assert.equal(holderOf(store, 'default/web'), 'dir:/s/b.yaml');
  assert.equal(rec.calls.length, 2);

  store.update(snap('dir:/s', [a, x])); // b.yaml deleted: x arrived before a came back
  assert.equal(holderOf(store, 'default/web'), 'dir:/s/x.yaml');
  assert.deepEqual(store.problems().map((p) => p.file), ['/s/a.yaml']);

  store.update(snap('dir:/s', [])); // all gone
  assert.equal(store.desired().has('default/web'), false);
  assert.deepEqual(rec.calls.at(-1), ['default/web']);
  assert.deepEqual(store.problems(), []);
});

test('a claim across sources: the holder leaving hands over to the other source', () => {
  const store = createDesiredStore(['dir:/one', 'dir:/two'], ALLOW_EMPTY);
  store.update(snap('dir:/one', [c('web', 'dir:/one/web.yaml', 'h1')]));
  store.update(snap('dir:/two', [c('web', 'dir:/two/web.yaml', 'h2')]));
  store.update(snap('dir:/one', []));
  assert.equal(holderOf(store, 'default/web'), 'dir:/two/web.yaml');
  assert.equal(store.desired().get('default/web')?.hash, 'h2');
});

test('the same name in different namespaces is no conflict', () => {
  const store = createDesiredStore(['dir:/s']);
  store.update(snap('dir:/s', [c('web', 'dir:/s/a.yaml', 'h', 'default'), c('web', 'dir:/s/b.yaml', 'h', 'shop')]));
  assert.deepEqual([...store.desired().keys()].sort(), ['default/web', 'shop/web']);
  assert.deepEqual(store.problems(), []);
});

test('ready() once every source has emitted a complete snapshot; listeners hear of it', () => {
  const store = createDesiredStore(['dir:/one', 'dir:/two']);
  const rec = recorder();
  store.onChange(rec.listener);
  assert.equal(store.ready(), false);
  store.update(snap('dir:/one', [], true));
  assert.equal(store.ready(), false);
  store.update(snap('dir:/two', [c('a', 'dir:/two/a.yaml')], false)); // unreadable: last good only
  assert.equal(store.ready(), false);
  assert.deepEqual(rec.calls, [['default/a']]);
  store.update(snap('dir:/two', [c('a', 'dir:/two/a.yaml')], true));
  assert.equal(store.ready(), true);
  assert.deepEqual(rec.calls, [['default/a'], []], 'told about readiness even though no key changed');
  // Later incomplete snapshots keep the specs and do not undo readiness.
  store.update(snap('dir:/two', [c('a', 'dir:/two/a.yaml')], false));
  assert.equal(store.ready(), true);
  assert.equal(store.desired().has('default/a'), true);
  assert.equal(rec.calls.length, 2);
});

test('problems are those of the latest snapshot of each source; listeners can be removed', () => {
  const store = createDesiredStore(['dir:/s']);
  const rec = recorder();
  const off = store.onChange(rec.listener);
  store.update({ source: 'dir:/s', specs: [], problems: [{ file: '/s/a.yaml', path: '', message: 'bad' }], complete: true });
  assert.deepEqual(store.problems().map((p) => p.message), ['bad']);
  store.update({ source: 'dir:/s', specs: [], problems: [], complete: true });
  assert.deepEqual(store.problems(), []);
  off();
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml')]));
  assert.deepEqual(rec.calls, [[]]); // only the readiness call, from before removal
});

test('prefer: before every source is read, the origin that held a key before the restart gets it back', () => {
  const store = createDesiredStore(['dir:/a', 'dir:/b']);
  store.prefer(new Map([['default/web', 'dir:/b/web.yaml']]));
  store.update(snap('dir:/a', [c('web', 'dir:/a/web.yaml', 'ha')]));
  assert.equal(holderOf(store, 'default/web'), 'dir:/a/web.yaml', 'alone, the first claimant holds it');
  store.update(snap('dir:/b', [c('web', 'dir:/b/web.yaml', 'hb')]));
  assert.equal(holderOf(store, 'default/web'), 'dir:/b/web.yaml', 'the earlier holder comes back to the front');
  assert.equal(store.ready(), true);
  // Once ready, arrival order rules again: a newcomer never takes a key over.
  store.update(snap('dir:/a', [c('web', 'dir:/a/web.yaml', 'ha'), c('api', 'dir:/a/api.yaml')]));
  store.prefer(new Map([['default/api', 'dir:/b/api.yaml']]));
  store.update(snap('dir:/b', [c('web', 'dir:/b/web.yaml', 'hb'), c('api', 'dir:/b/api.yaml')]));
  assert.equal(holderOf(store, 'default/api'), 'dir:/a/api.yaml');
});

// ---------------------------------------------------------------------------- the gate

/** Denies any container whose name starts with "bad"; resolves nothing. */
function nameGate(allowEmpty = false): Gate {
  return {
    admit: (container) =>
      container.name.startsWith('bad')
        ? { ok: false, problems: [{ file: container.origin, path: 'metadata.name', message: 'denied by the test rule' }] }
        : { ok: true, container },
    allowEmpty: () => allowEmpty,
  };
}

test('a denied container never becomes desired; its file keeps its last admitted specs, whole', () => {
  const store = createDesiredStore(['dir:/s'], nameGate());
  store.update(snap('dir:/s', [c('bad', 'dir:/s/bad.yaml'), c('good', 'dir:/s/good.yaml')]));
  assert.deepEqual([...store.desired().keys()], ['default/good']);
  assert.deepEqual(store.denials().map((p) => [p.file, p.path]), [['dir:/s/bad.yaml', 'metadata.name']]);
  assert.ok(store.problems().some((p) => /denied by the test rule/.test(p.message)));

  // A file of two: one denied document holds the file at its last good version.
  const web1 = c('web', 'dir:/s/pair.yaml', 'h1');
  const db1 = c('db', 'dir:/s/pair.yaml', 'h1');
  store.update(snap('dir:/s', [web1, db1, c('good', 'dir:/s/good.yaml')]));
  store.update(snap('dir:/s', [c('web', 'dir:/s/pair.yaml', 'h2'), c('bad2', 'dir:/s/pair.yaml'), c('good', 'dir:/s/good.yaml')]));
  assert.equal(store.desired().get('default/web')?.hash, 'h1', 'the last good version stays');
  assert.equal(store.desired().has('default/db'), true);
  assert.equal(store.desired().has('default/bad2'), false);
  // Fixed: the new version goes in.
  store.update(snap('dir:/s', [c('web', 'dir:/s/pair.yaml', 'h2'), c('good', 'dir:/s/good.yaml')]));
  assert.equal(store.desired().get('default/web')?.hash, 'h2');
  assert.equal(store.desired().has('default/db'), false);
  assert.deepEqual(store.denials(), []);
});

test('a new gate re-admits every source: only keys whose container changes are reported', () => {
  const store = createDesiredStore(['dir:/s']);
  const rec = recorder();
  store.onChange(rec.listener);
  store.update(snap('dir:/s', [c('bad', 'dir:/s/bad.yaml'), c('good', 'dir:/s/good.yaml')]));
  assert.deepEqual(rec.calls, [['default/bad', 'default/good']]);

  // Stricter: the running spec is denied now, but it was admitted, so it keeps running.
  store.setGate(nameGate());
  assert.deepEqual(rec.calls.length, 1, 'nothing changed');
  assert.equal(store.desired().has('default/bad'), true);
  assert.equal(store.denials().length, 1);

  // Its next version is denied, and the admitted one stays.
  store.update(snap('dir:/s', [c('bad', 'dir:/s/bad.yaml', 'h2'), c('good', 'dir:/s/good.yaml')]));
  assert.equal(store.desired().get('default/bad')?.hash, 'h1');
  assert.equal(rec.calls.length, 1);

  // Looser again: the new version goes in; good is not reported.
  store.setGate(OPEN_GATE);
  assert.deepEqual(rec.calls.at(-1), ['default/bad']);
  assert.equal(store.desired().get('default/bad')?.hash, 'h2');
  assert.deepEqual(store.denials(), []);
});

test('a denied container that was never admitted: nothing runs, and a gate that allows it brings it in', () => {
  const store = createDesiredStore(['git:https://g/x.git'], nameGate());
  const rec = recorder();
  store.onChange(rec.listener);
  store.update(snap('git:https://g/x.git', [c('bad', 'git:https://g/x.git:bad.yaml')]));
  assert.equal(store.desired().size, 0);
  assert.equal(store.ready(), true, 'a denial is bad input, not an unread source');
  store.setGate(OPEN_GATE);
  assert.deepEqual(rec.calls.at(-1), ['default/bad']);
});

test('an emptied source is held: nothing it declared goes, and it is reported until it has specs again', () => {
  const store = createDesiredStore(['dir:/s']);
  const rec = recorder();
  store.onChange(rec.listener);
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml'), c('b', 'dir:/s/b.yaml')]));
  store.update(snap('dir:/s', [])); // emptied, or something mounted over it
  assert.deepEqual([...store.desired().keys()].sort(), ['default/a', 'default/b']);
  assert.equal(rec.calls.length, 1);
  assert.match(store.problems().map((p) => p.message).join('\n'), /the source is empty .*2 container\(s\) it declared keep running.*--allow-empty/);
  assert.equal(store.problems()[0].file, '/s');

  // Removing some specs of a source that keeps one prunes as always.
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml')]));
  assert.deepEqual([...store.desired().keys()], ['default/a']);
  assert.deepEqual(store.problems(), []);
});

test('an emptied source that may be empty prunes', () => {
  const store = createDesiredStore(['dir:/s'], nameGate(true));
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml')]));
  store.update(snap('dir:/s', []));
  assert.equal(store.desired().size, 0);
  assert.deepEqual(store.problems(), []);
});

test('a read with problems and no spec at all is empty too: held', () => {
  const store = createDesiredStore(['dir:/s']);
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml')]));
  store.update({ source: 'dir:/s', specs: [], problems: [{ file: '/s/a.yaml', path: '', message: 'bad' }], complete: true });
  assert.equal(store.desired().has('default/a'), true);
  assert.deepEqual(store.problems().map((p) => p.file), ['/s/a.yaml', '/s']);
});

test('empty at start while containers from the source run: not ready, so nothing anywhere is removed', () => {
  const store = createDesiredStore(['dir:/s', 'dir:/t']);
  store.prefer(new Map([['default/a', 'dir:/s/a.yaml'], ['default/x', 'dir:/elsewhere/x.yaml']]));
  store.update(snap('dir:/t', [])); // nothing of dir:/t runs: an empty read is just empty
  store.update(snap('dir:/s', []));
  assert.equal(store.ready(), false);
  assert.match(store.problems()[0].message, /containers from it run/);
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml')]));
  assert.equal(store.ready(), true);

  const allowed = createDesiredStore(['dir:/s'], nameGate(true));
  allowed.prefer(new Map([['default/a', 'dir:/s/a.yaml']]));
  allowed.update(snap('dir:/s', []));
  assert.equal(allowed.ready(), true, '--allow-empty: an empty read is a read');
});

test('sourceOwns: which origins are a source\'s', () => {
  const cases: Array<[string, string, boolean]> = [
    ['dir:/s', 'dir:/s/a.yaml', true],
    ['dir:/s', 'dir:/s/sub/a.yaml', false],
    ['dir:/s', 'dir:/srv/a.yaml', false],
    ['git:https://g/x.git', 'git:https://g/x.git:specs/a.yaml', true],
    ['git:https://g/x.git', 'git:https://g/x.gitother:a.yaml', false],
    ['kube', 'kube:default/web', true],
    ['kube', 'dir:/kube/web.yaml', false],
  ];
  for (const [source, origin, want] of cases) assert.equal(sourceOwns(source, origin), want, `${source} ${origin}`);
});

test('a source that says it is not empty (resources being deleted) prunes its last spec', () => {
  const store = createDesiredStore(['kube']);
  store.update(snap('kube', [c('web', 'kube:default/web')]));
  store.update({ ...snap('kube', []), empty: false });
  assert.equal(store.desired().size, 0);
  store.update(snap('kube', [c('web', 'kube:default/web')]));
  store.update({ ...snap('kube', []), empty: true }); // the list came back with nothing at all
  assert.equal(store.desired().size, 1);
});

test('the gate is told once when an empty read starts and stops being held', () => {
  const told: Array<[string, boolean]> = [];
  const store = createDesiredStore(['dir:/s'], { ...OPEN_GATE, held: (source, holding) => told.push([source, holding]) });
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml')]));
  store.update(snap('dir:/s', []));
  store.update(snap('dir:/s', []));
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml')]));
  store.update(snap('dir:/s', [c('a', 'dir:/s/a.yaml')]));
  assert.deepEqual(told, [['dir:/s', true], ['dir:/s', false]]);
});

test('a file denied at its first read keeps what already runs unchanged (a policy made stricter while converge was down)', () => {
  const store = createDesiredStore(['dir:/s'], nameGate());
  store.adopt(new Map([['default/bad', { origin: 'dir:/s/bad.yaml', hash: 'h1' }], ['default/bad2', { origin: 'dir:/s/pair.yaml', hash: 'old' }]]));
  store.update(snap('dir:/s', [c('bad', 'dir:/s/bad.yaml', 'h1'), c('bad2', 'dir:/s/pair.yaml', 'h2'), c('badnew', 'dir:/s/new.yaml')]));
  assert.deepEqual([...store.desired().keys()], ['default/bad'], 'only the one running unchanged');
  assert.equal(store.denials().length, 3, 'and all three are reported');
  // Its next version is denied too: the running one stays.
  store.update(snap('dir:/s', [c('bad', 'dir:/s/bad.yaml', 'h9')]));
  assert.equal(store.desired().get('default/bad')?.hash, 'h1');
});

test('a source added later holds readiness until its first read; a removed one takes its claims along and hands contested keys on', () => {
  const store = createDesiredStore(['dir:/a'], ALLOW_EMPTY);
  const rec = recorder();
  store.onChange(rec.listener);
  store.update(snap('dir:/a', [c('web', 'dir:/a/web.yaml'), c('shared', 'dir:/a/shared.yaml', 'ha')]));
  assert.equal(store.ready(), true);

  store.addSource('dir:/b');
  assert.equal(store.ready(), false, 'not ready until the new source is read');
  store.update(snap('dir:/b', [c('db', 'dir:/b/db.yaml'), c('shared', 'dir:/b/shared.yaml', 'hb')]));
  assert.equal(store.ready(), true);
  assert.equal(holderOf(store, 'default/shared'), 'dir:/a/shared.yaml', 'the first claimant keeps it');

  const before = rec.calls.length;
  store.removeSource('dir:/a');
  assert.deepEqual([...store.desired().keys()].sort(), ['default/db', 'default/shared']);
  assert.equal(holderOf(store, 'default/shared'), 'dir:/b/shared.yaml', 'handed to the next claimant');
  assert.deepEqual(rec.calls.slice(before), [['default/shared', 'default/web']]);
  assert.equal(store.ready(), true);
  assert.deepEqual(store.problems(), []);
});
