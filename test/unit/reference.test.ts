// Image references normalised as docker and containerd do, and Kubernetes' default pull
// policy derived from them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultPullPolicy, formatReference, normalizeReference, parseReference, registryHost } from '../../src/spec/reference.js';
import { InvalidReferenceError } from '../../src/pull/errors.js';

const D = `sha256:${'a'.repeat(64)}`;

test('normalises names the way docker does', () => {
  const cases: [string, string][] = [
    ['redis', 'docker.io/library/redis:latest'],
    ['redis:7', 'docker.io/library/redis:7'],
    ['nginx:1.27', 'docker.io/library/nginx:1.27'],
    ['library/redis', 'docker.io/library/redis:latest'],
    ['bitnami/redis:7.2', 'docker.io/bitnami/redis:7.2'],
    ['docker.io/redis', 'docker.io/library/redis:latest'],
    ['index.docker.io/library/redis:7', 'docker.io/library/redis:7'],
    ['docker.io/team/sub/app:v1', 'docker.io/team/sub/app:v1'],
    ['localhost/busybox', 'localhost/busybox:latest'],
    ['localhost:5000/busybox:1', 'localhost:5000/busybox:1'],
    ['127.0.0.1:5000/team/app', '127.0.0.1:5000/team/app:latest'],
    ['registry.local:5000/team/app@' + D, 'registry.local:5000/team/app@' + D],
    ['ghcr.io/owner/app:v1@' + D, 'ghcr.io/owner/app:v1@' + D],
    ['Registry.Example.com/app', 'Registry.Example.com/app:latest'],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    ['a/b__c/d-e.f---g', 'docker.io/a/b__c/d-e.f---g:latest'],
    ['redis@' + D, 'docker.io/library/redis@' + D],
  ];
  for (const [input, want] of cases) assert.equal(normalizeReference(input), want, input);
});

test('splits into domain, path, tag and digest', () => {
  assert.deepEqual(parseReference('registry.local:5000/team/app:v2@' + D), { domain: 'registry.local:5000', path: 'team/app', tag: 'v2', digest: D });
  assert.deepEqual(parseReference('redis@' + D), { domain: 'docker.io', path: 'library/redis', digest: D });
  assert.deepEqual(parseReference('redis'), { domain: 'docker.io', path: 'library/redis', tag: 'latest' });
  // A first component without a dot or port, and not "localhost", is part of the path.
  assert.deepEqual(parseReference('team/app'), { domain: 'docker.io', path: 'team/app', tag: 'latest' });
  // "localhost:5000" alone is a repository named localhost with tag 5000, as in docker.
  assert.deepEqual(parseReference('localhost:5000'), { domain: 'docker.io', path: 'library/localhost', tag: '5000' });
});

test('formats back to the same string', () => {
  for (const s of ['docker.io/library/redis:7', 'h:1/a/b@' + D, 'h.io/a:t@' + D]) assert.equal(formatReference(parseReference(s)), s);
});

test('refuses what docker refuses, saying why', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['Redis', /lowercase/],
    ['docker.io/Library/redis', /lowercase/],
    ['redis:', /not a valid tag/],
    ['redis:-x', /not a valid tag/],
    ['redis:' + 'x'.repeat(129), /not a valid tag/],
    ['redis@sha256:abc', /64 lowercase hex/],
    ['redis@sha256:' + 'A'.repeat(64), /64 lowercase hex/],
    ['redis@md5:' + 'a'.repeat(32), /unsupported digest algorithm/],
    ['a'.repeat(64), /image ID/],
    ['re dis', /whitespace/],
    ['team//app', /path component/],
    ['team/-app', /path component/],
    ['host:5000/', /no repository/],
    ['bad_host.com:x/app', /valid registry host/],
    [`registry.local/${'a'.repeat(250)}`, /longer than 255/],
  ];
  for (const [input, why] of bad) {
    assert.throws(() => parseReference(input), (err: unknown) => err instanceof InvalidReferenceError && err.code === 'InvalidReference' && why.test(err.message), input);
  }
});

test('docker.io is served by registry-1.docker.io; other hosts by themselves', () => {
  assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryHost('registry.local:5000'), 'registry.local:5000');
});

test("Kubernetes' default pull policy: Always for latest (written or implied), else IfNotPresent", () => {
  assert.equal(defaultPullPolicy('redis'), 'Always');
  assert.equal(defaultPullPolicy('redis:latest'), 'Always');
  assert.equal(defaultPullPolicy('localhost/busybox:latest'), 'Always');
  assert.equal(defaultPullPolicy('redis:7'), 'IfNotPresent');
  assert.equal(defaultPullPolicy('redis@' + D), 'IfNotPresent');
  assert.equal(defaultPullPolicy('redis:latest@' + D), 'Always');
  assert.equal(defaultPullPolicy('NOT VALID'), 'IfNotPresent');
});
