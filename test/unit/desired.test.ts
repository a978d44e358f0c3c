// The desired store: merging sources, first claimant wins without flapping, hand-over when
// the holder lets go, change notification by key, and readiness.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDesiredStore } from '../../src/desired.js';
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
  const store = createDesiredStore(['dir:/s']);
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
  const store = createDesiredStore(['dir:/one', 'dir:/two']);
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
