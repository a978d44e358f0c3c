// The pure parts of talking to registries: WWW-Authenticate challenges, which registries
// get plain HTTP, and credentials from a docker-style config.json.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseChallenges } from '../../src/pull/auth.js';
import { dockerConfigStore } from '../../src/pull/credentials.js';
import { isInsecure } from '../../src/pull/registry.js';

test('parses bearer and basic challenges, quoted values with commas and escapes', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/redis:pull' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  assert.deepEqual(parseChallenges('Bearer realm="r",scope="repository:a:pull,push",error="insufficient_scope"'), [
    { scheme: 'bearer', params: { realm: 'r', scope: 'repository:a:pull,push', error: 'insufficient_scope' } },
  ]);
  assert.deepEqual(parseChallenges('Basic realm="a \\"b\\"", Bearer realm=r2, service=s'), [
    { scheme: 'basic', params: { realm: 'a "b"' } },
    { scheme: 'bearer', params: { realm: 'r2', service: 's' } },
  ]);
  assert.deepEqual(parseChallenges(''), []);
});

test('plain HTTP for listed registries and for loopback, as docker does', () => {
  assert.equal(isInsecure('localhost:5000'), true);
  assert.equal(isInsecure('127.0.0.1:39999'), true);
  assert.equal(isInsecure('127.1.2.3'), true);
  assert.equal(isInsecure('[::1]:5000'), true);
  assert.equal(isInsecure('registry.local:5000'), false);
  assert.equal(isInsecure('registry.local:5000', ['registry.local:5000']), true);
  assert.equal(isInsecure('registry.local:5000', ['registry.local']), true);
  assert.equal(isInsecure('registry.local:5001', ['registry.local:5000']), false);
  assert.equal(isInsecure('10.0.0.1:5000'), false);
});

test('reads credentials from a docker config.json', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'config.json');
  const auth = (u: string, p: string): string => Buffer.from(`${u}:${p}`).toString('base64');
  writeFileSync(
    file,
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: auth('hubuser', 'hub:pass') },
        'registry.local:5000': { auth: auth('alice', 's3cret') },
        'https://ghcr.io': { username: 'bob', password: 'pw' },
        'quay.io': { identitytoken: 'refresh-me' },
        'empty.io': {},
      },
    }),
  );
  const store = dockerConfigStore(file);
  assert.equal(store.source, file);
  assert.deepEqual(await store.get('docker.io'), { username: 'hubuser', password: 'hub:pass' });
  assert.deepEqual(await store.get('registry.local:5000'), { username: 'alice', password: 's3cret' });
  assert.deepEqual(await store.get('ghcr.io'), { username: 'bob', password: 'pw' });
  assert.deepEqual(await store.get('quay.io'), { identityToken: 'refresh-me' });
  assert.equal(await store.get('empty.io'), undefined);
  assert.equal(await store.get('registry.local:5001'), undefined);
  // Read on each lookup: a `docker login` while converge runs is seen.
  writeFileSync(file, JSON.stringify({ auths: { 'registry.local:5001': { auth: auth('carol', 'x') } } }));
  assert.deepEqual(await store.get('registry.local:5001'), { username: 'carol', password: 'x' });
  assert.equal(await dockerConfigStore(path.join(dir, 'missing.json')).get('docker.io'), undefined);
  writeFileSync(file, '{not json');
  await assert.rejects(store.get('docker.io'), /not valid JSON/);
});
