// The --listen server's rules as pure functions: who may call a mutating endpoint on which
// address, the bearer check, what the flags accept. test/integration/listen.test.ts runs
// the server itself (413, slow headers, the connection cap, tokens, HTTPS).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BearerCheck, checkBearer, exposureWarnings, isLoopbackHost, mutationRefusal, serverOptions, DEFAULT_SERVER_LIMITS } from '../../src/publish/guard.js';
import { parseListen } from '../../src/publish/http.js';
import { listenFromFlags } from '../../src/cli/listen-flags.js';

test('mutations: loopback is open without a token; elsewhere, and with a token set, they need proof', () => {
  const table: [boolean, boolean, BearerCheck, boolean, boolean][] = [
    // loopback, token set, bearer, route verifies itself, allowed
    [true, false, 'none', false, true],
    [true, true, 'none', false, false],
    [true, true, 'ok', false, true],
    [true, true, 'wrong', false, false],
    [false, false, 'none', false, false],
    [false, false, 'none', true, true], // a signed webhook: its route checks the HMAC
    [false, true, 'none', true, true],
    [false, true, 'ok', false, true],
    [false, true, 'wrong', true, false],
  ];
  for (const [loopback, tokenSet, bearer, routeVerifies, allowed] of table) {
    const refusal = mutationRefusal({ loopback, tokenSet, bearer, routeVerifies });
    assert.equal(refusal === undefined, allowed, JSON.stringify({ loopback, tokenSet, bearer, routeVerifies, refusal }));
  }
});

test('bearer tokens are compared whole', () => {
  const token = 'a-token-of-twenty-chars';
  assert.equal(checkBearer({}, token), 'none');
  assert.equal(checkBearer({ authorization: `Bearer ${token}` }, token), 'ok');
  assert.equal(checkBearer({ authorization: `bearer ${token}` }, token), 'ok');
  assert.equal(checkBearer({ authorization: `Bearer ${token}x` }, token), 'wrong');
  assert.equal(checkBearer({ authorization: `Bearer ${token.slice(1)}` }, token), 'wrong');
  assert.equal(checkBearer({ authorization: `Bearer ${token}` }, undefined), 'none', 'no token configured: the header is ignored');
  assert.equal(checkBearer({ authorization: `Basic ${token}` }, token), 'none');
});

test('--listen binds loopback unless a host is given', () => {
  assert.deepEqual(parseListen('9440'), { host: '127.0.0.1', port: 9440 });
  assert.deepEqual(parseListen(':9440'), { host: '127.0.0.1', port: 9440 });
  assert.deepEqual(parseListen('0.0.0.0:9440'), { host: '0.0.0.0', port: 9440 });
  assert.deepEqual(parseListen('[::1]:9440'), { host: '::1', port: 9440 });
  assert.equal(isLoopbackHost('127.0.0.1'), true);
  assert.equal(isLoopbackHost('::1'), true);
  assert.equal(isLoopbackHost('localhost'), true);
  assert.equal(isLoopbackHost('0.0.0.0'), false);
  assert.equal(isLoopbackHost('::'), false);
  assert.equal(isLoopbackHost('10.1.2.3'), false);
});

test('server options: headers must come within their timeout, and Node checks often enough to notice', () => {
  const o = serverOptions({ ...DEFAULT_SERVER_LIMITS, headersTimeoutMs: 400, requestTimeoutMs: 1000 });
  assert.equal(o.headersTimeout, 400);
  assert.equal(o.requestTimeout, 1000);
  assert.ok((o.connectionsCheckingInterval ?? 30_000) <= 100);
});

test('listen flags: a token file, a certificate and key; nonsense refused', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'listen-flags-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  assert.equal(listenFromFlags({}), undefined);
  assert.deepEqual(listenFromFlags({ listen: '127.0.0.1:0' }), {});
  assert.deepEqual(listenFromFlags({ listen: '127.0.0.1:0', 'listen-token-file': file('t', 'sixteen-chars-ok-x\n') }), { token: 'sixteen-chars-ok-x' });
  assert.throws(() => listenFromFlags({ listen: '127.0.0.1:0', 'listen-token-file': file('short', 'abc\n') }), /at least 16/);
  assert.throws(() => listenFromFlags({ listen: '127.0.0.1:0', 'listen-token-file': path.join(dir, 'missing') }), /cannot read/);
  assert.throws(() => listenFromFlags({ 'listen-token-file': file('t2', 'sixteen-chars-ok-x') }), /needs --listen/);
  assert.throws(() => listenFromFlags({ listen: '127.0.0.1:0', 'tls-cert': file('c', 'x') }), /give both or neither/);
  const tls = listenFromFlags({ listen: '127.0.0.1:0', 'tls-cert': file('c', 'CERT'), 'tls-key': file('k', 'KEY') })?.tls;
  assert.deepEqual([tls?.cert.toString(), tls?.key.toString()], ['CERT', 'KEY']);
});

test('a listener off loopback warns when it is plain HTTP, and when its changes need a token that is not set', () => {
  const msgs = (l: Parameters<typeof exposureWarnings>[0]) => exposureWarnings(l).map((w) => w.msg);
  assert.deepEqual(msgs({ loopback: true, scheme: 'http', tokenSet: false, unverifiedPosts: ['/v1/git/sync'] }), []);
  const plain = msgs({ loopback: false, scheme: 'http', tokenSet: true, unverifiedPosts: ['/v1/git/sync'] });
  assert.equal(plain.length, 1);
  assert.match(plain[0], /plain HTTP on an address other than loopback/);
  assert.deepEqual(msgs({ loopback: false, scheme: 'https', tokenSet: true, unverifiedPosts: ['/v1/git/sync'] }), []);
  const closed = exposureWarnings({ loopback: false, scheme: 'https', tokenSet: false, unverifiedPosts: ['/v1/git/sync'] });
  assert.deepEqual(closed.map((w) => w.fields), [{ paths: ['/v1/git/sync'] }]);
});
