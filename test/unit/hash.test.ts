// The spec hash: over what the user wrote, canonicalised, so key order and an upgrade that
// adds defaults change nothing, while every real change does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, specHash } from '../../src/spec/hash.js';
import type { ContainerSpec } from '../../src/spec/types.js';
import { containerDoc } from '../harness/specs.js';

function spec(over: Partial<ContainerSpec['spec']> = {}, metadata: Partial<ContainerSpec['metadata']> = {}): ContainerSpec {
  return containerDoc('web', { args: ['a', 'b'], resources: { limits: { memory: '64Mi', cpu: '500m' } }, ...over }, { labels: { tier: 'front', app: 'shop' }, ...metadata });
}

test('the hash is sha256 hex', () => {
  assert.match(specHash(spec()), /^[0-9a-f]{64}$/);
});

test('key order does not matter, at any depth', () => {
  const reordered: ContainerSpec = {
    spec: { resources: { limits: { cpu: '500m', memory: '64Mi' } }, args: ['a', 'b'], image: 'busybox' },
    metadata: { labels: { app: 'shop', tier: 'front' }, name: 'web' },
    kind: 'Container',
    apiVersion: 'converge.dev/v1alpha1',
  };
  assert.equal(specHash(reordered), specHash(spec()));
});

test('no defaults are filled in: an omitted field is not the same as its default written out', () => {
  // What the user did not write cannot change when converge's defaults do.
  assert.notEqual(specHash(spec({ restartPolicy: 'Always' })), specHash(spec()));
  assert.notEqual(specHash(spec({ terminationGracePeriodSeconds: 10 })), specHash(spec()));
});

test('every real change changes the hash', () => {
  const base = specHash(spec());
  const changed = [
    spec({ image: 'busybox:2' }),
    spec({ args: ['b', 'a'] }), // arrays keep their order
    spec({ args: ['a', 'b', 'c'] }),
    spec({ resources: { limits: { memory: '65Mi', cpu: '500m' } } }),
    spec({ env: [{ name: 'A', value: '1' }] }),
    spec({}, { name: 'web2' }),
    spec({}, { labels: { tier: 'back', app: 'shop' } }),
    spec({}, { labels: undefined }),
  ];
  const hashes = changed.map(specHash);
  for (const h of hashes) assert.notEqual(h, base);
  assert.equal(new Set(hashes).size, hashes.length);
});

test('namespace and apiVersion are not hashed: the key carries the namespace', () => {
  // So `namespace: default` written out hashes as omitted.
  assert.equal(specHash(spec({}, { namespace: 'default' })), specHash(spec()));
  assert.equal(specHash(spec({}, { namespace: 'shop' })), specHash(spec()));
  const other = { ...spec(), apiVersion: 'converge.dev/v1beta1' } as unknown as ContainerSpec;
  assert.equal(specHash(other), specHash(spec()));
});

test('the hash of a given spec never changes (it is stored on running containers)', () => {
  // Pinned: a change here restarts every container on upgrade. Only change it on purpose.
  // It is the sha256 of exactly this text:
  // {"metadata":{"labels":{"app":"shop","tier":"front"},"name":"web"},"spec":{"args":["a","b"],"image":"busybox","resources":{"limits":{"cpu":"500m","memory":"64Mi"}}}}
  assert.equal(specHash(spec()), 'cf6914ceb2ef0b90af55253eb38a0f8610436c92aaea1727fbbf37c17818e554');
});

test('canonical JSON sorts keys, keeps array order, drops undefined members', () => {
  assert.equal(canonicalJson({ b: 1, a: [3, { d: undefined, c: 'x' }], e: null }), '{"a":[3,{"c":"x"}],"b":1,"e":null}');
});
