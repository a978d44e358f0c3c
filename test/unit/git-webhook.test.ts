// The Git sync endpoint and webhook signature checks, through the real --listen server with
// a stand-in source (the source itself is tested against real git in git-source.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createMetrics } from '../../src/publish/metrics.js';
import { startServer, type StatusServer } from '../../src/publish/http.js';
import { gitSyncRoute, pushedRefOf, signBody, sourcesRoute, verifySignature } from '../../src/publish/webhook.js';
import type { GitSource } from '../../src/sources/git.js';
import { fakeGitSource } from '../harness/fakes.js';
import type { Source } from '../../src/desired.js';

const log = pino({ level: 'silent' });
const SECRET = 'It\'s a Secret to Everybody';
const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: 'abc' }));

test('verifySignature: GitHub and Gitea forms, constant-length hex only', () => {
  const good = signBody(body, SECRET);
  // The example from GitHub's documentation: secret and payload give this exact signature.
  assert.equal(signBody('Hello, World!', SECRET), '757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17');
  assert.deepEqual(verifySignature({ 'x-hub-signature-256': `sha256=${good}` }, body, SECRET), { ok: true, header: 'x-hub-signature-256' });
  assert.deepEqual(verifySignature({ 'x-gitea-signature': good }, body, SECRET), { ok: true, header: 'x-gitea-signature' });
  assert.deepEqual(verifySignature({ 'x-gogs-signature': good.toUpperCase() }, body, SECRET), { ok: true, header: 'x-gogs-signature' });
  assert.equal(verifySignature({}, body, SECRET).ok, false);
  assert.deepEqual(verifySignature({}, body, SECRET), { ok: false, reason: 'unsigned' });
  assert.deepEqual(verifySignature({ 'x-hub-signature': 'sha1=0123' }, body, SECRET), { ok: false, reason: 'unsigned' }, 'SHA-1 signatures are not enough');
  const flipped = (good[0] === 'a' ? 'b' : 'a') + good.slice(1);
  assert.deepEqual(verifySignature({ 'x-hub-signature-256': `sha256=${flipped}` }, body, SECRET), { ok: false, reason: 'mismatch', header: 'x-hub-signature-256' });
  assert.deepEqual(verifySignature({ 'x-hub-signature-256': `sha256=${good}` }, Buffer.concat([body, Buffer.from(' ')]), SECRET).ok, false, 'the exact bytes are signed');
  assert.deepEqual(verifySignature({ 'x-hub-signature-256': good }, body, SECRET), { ok: false, reason: 'malformed', header: 'x-hub-signature-256' });
  assert.deepEqual(verifySignature({ 'x-gitea-signature': good.slice(2) }, body, SECRET), { ok: false, reason: 'malformed', header: 'x-gitea-signature' });
  assert.equal(verifySignature({ 'x-hub-signature-256': `sha256=${good}` }, body, 'other secret').ok, false);
});

test('pushedRefOf reads JSON and form-encoded payloads', () => {
  assert.equal(pushedRefOf(body), 'refs/heads/main');
  assert.equal(pushedRefOf(Buffer.from(`payload=${encodeURIComponent(JSON.stringify({ ref: 'refs/heads/dev' }))}`)), 'refs/heads/dev');
  assert.equal(pushedRefOf(Buffer.from('')), undefined);
  assert.equal(pushedRefOf(Buffer.from('{not json')), undefined);
});

const fakeSource = (): GitSource & { calls: number } => fakeGitSource('git:https://***@host/repo.git');

async function serve(t: { after(fn: () => unknown): void }, source: GitSource, secret?: string): Promise<StatusServer> {
  const dir: Source = { name: 'dir:/etc/converge', start: async () => undefined, stop: async () => undefined };
  const server = await startServer('127.0.0.1:0', {
    ready: () => true,
    status: () => [],
    metrics: createMetrics(),
    log,
    routes: [gitSyncRoute(source, { secret, log }), sourcesRoute([dir, source])],
  });
  t.after(() => server.close());
  return server;
}

async function post(server: StatusServer, path: string, payload: Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(`http://${server.address}${path}`, { method: 'POST', body: new Uint8Array(payload), headers: { 'content-type': 'application/json', ...headers } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('with a secret, POST /v1/git/sync acts only on correctly signed requests', async (t) => {
  const source = fakeSource();
  const server = await serve(t, source, SECRET);
  const sig = signBody(body, SECRET);

  assert.equal((await post(server, '/v1/git/sync', body)).status, 401, 'unsigned');
  assert.equal((await post(server, '/v1/git/sync', body, { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` })).status, 403, 'wrongly signed');
  assert.equal((await post(server, '/v1/git/sync', body, { 'x-gitea-signature': 'zz' })).status, 403, 'malformed');
  assert.equal(source.calls, 0, 'no fetch for a refused request');

  const gh = await post(server, '/v1/git/sync', body, { 'x-hub-signature-256': `sha256=${sig}`, 'x-github-event': 'push' });
  assert.deepEqual(gh, { status: 202, body: { result: 'triggered' } });
  const gitea = await post(server, '/v1/git/sync?wait=1', body, { 'x-gitea-signature': sig, 'x-gitea-event': 'push' });
  assert.deepEqual(gitea, { status: 200, body: { result: 'applied', revision: 'c0ffee', fetched: 'c0ffee' } });
  assert.equal(source.calls, 2);

  const ping = await post(server, '/v1/git/sync', body, { 'x-hub-signature-256': `sha256=${sig}`, 'x-github-event': 'ping' });
  assert.deepEqual(ping.body, { result: 'pong' });
  const other = Buffer.from(JSON.stringify({ ref: 'refs/heads/feature' }));
  const ignored = await post(server, '/v1/git/sync', other, { 'x-hub-signature-256': `sha256=${signBody(other, SECRET)}` });
  assert.equal(ignored.status, 200);
  assert.match(String(ignored.body.reason), /refs\/heads\/feature is not the followed ref main/);
  assert.equal(source.calls, 2, 'ping and other branches fetch nothing');
});

test('without a secret any POST triggers a fetch; other methods and big bodies are refused', async (t) => {
  const source = fakeSource();
  const server = await serve(t, source);
  assert.equal((await post(server, '/v1/git/sync', Buffer.alloc(0))).status, 202);
  assert.equal(source.calls, 1);
  const get = await fetch(`http://${server.address}/v1/git/sync`);
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');
  const big = await fetch(`http://${server.address}/v1/git/sync`, { method: 'POST', body: new Uint8Array(2 << 20) });
  assert.equal(big.status, 413, 'a body over 1 MiB is refused');
  assert.equal(source.calls, 1);
  const sources = await (await fetch(`http://${server.address}/v1/sources`)).json();
  assert.deepEqual(sources, [{ name: 'dir:/etc/converge', kind: 'dir' }, { name: source.name, kind: 'git', revision: 'c0ffee' }]);
  assert.equal((await fetch(`http://${server.address}/healthz`)).status, 200, 'the built-in routes still answer');
  assert.equal((await fetch(`http://${server.address}/v1/status`, { method: 'POST' })).status, 405);
});
