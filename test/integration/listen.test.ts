// The --listen server as a client on the network meets it, over real HTTP on 127.0.0.1: an
// oversized body is 413 and the server stays up, slow headers are cut off, connections past
// the cap are closed, the sync endpoint wants the --listen-token-file token, and with
// --tls-cert/--tls-key it answers HTTPS (a certificate made by openssl here). The last
// test runs `converge run` with those flags, end to end.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { createMetrics } from '../../src/publish/metrics.js';
import { type ServerSecurity, startServer, type StatusServer } from '../../src/publish/http.js';
import type { ServerLimits } from '../../src/publish/guard.js';
import { gitSyncRoute, signBody } from '../../src/publish/webhook.js';
import type { GitSource } from '../../src/sources/git.js';
import { fakeGitSource } from '../harness/fakes.js';
import { GitRepo } from '../harness/git.js';
import { cli, container, Env, sleeper, STATE_FILE, waitFor } from './util.js';

const log = pino({ level: 'silent' });
const TOKEN = 'listen-token-0123456789abcdef';
let dir: string;
let cert: { certPath: string; keyPath: string; cert: Buffer; key: Buffer };

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'converge-listen-'));
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  cert = { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
});
after(() => rmSync(dir, { recursive: true, force: true }));

const fakeSource = (): GitSource & { calls: number } => fakeGitSource('git:file:///repo.git');

async function serve(t: TestContext, opts: { secret?: string; security?: ServerSecurity; limits?: Partial<ServerLimits> } = {}) {
  const source = fakeSource();
  const server = await startServer('127.0.0.1:0', {
    ready: () => true,
    status: () => [],
    metrics: createMetrics(),
    log,
    routes: [gitSyncRoute(source, { secret: opts.secret, log })],
    security: { ...opts.security, limits: opts.limits },
  });
  t.after(() => server.close());
  return { server, source };
}

const post = (server: StatusServer, body: Uint8Array<ArrayBuffer>, headers: Record<string, string> = {}) =>
  fetch(`http://${server.address}/v1/git/sync`, { method: 'POST', body, headers, signal: AbortSignal.timeout(10_000) });
const healthz = async (server: StatusServer) => (await fetch(`http://${server.address}/healthz`, { signal: AbortSignal.timeout(5_000) })).status;

/** A raw TCP connection to the server; resolves `closed` when the server hangs up, with what it sent. */
function connect(server: StatusServer): Promise<{ socket: net.Socket; closed: Promise<string> }> {
  const [host, port] = server.address.split(':');
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), host);
    let got = '';
    socket.on('data', (d) => (got += d.toString()));
    const closed = new Promise<string>((res) => socket.on('close', () => res(got)));
    socket.once('error', () => undefined);
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

/** GET over HTTPS trusting only the test's certificate. */
function httpsGet(address: string, p: string, ca: Buffer, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = https.request({ host, port: Number(port), path: p, method, ca, headers, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the --listen server', () => {
  it('answers a body over 1 MiB with 413, runs nothing, and stays up', async (t) => {
    const { server, source } = await serve(t);
    const big = await post(server, new Uint8Array((1 << 20) + 1)).catch((err: Error) => err);
    assert.ok(!(big instanceof Error), `an answer, not ${String(big)}`);
    assert.equal(big.status, 413);
    assert.match(((await big.json()) as { error: string }).error, /over 1048576 bytes/);
    assert.equal(source.calls, 0);
    assert.equal(await healthz(server), 200, 'still up');
    assert.equal((await post(server, new Uint8Array(1 << 20))).status, 202, 'exactly 1 MiB is fine');
    assert.equal(source.calls, 1);
  });

  it('cuts off a client that sends its headers too slowly', async (t) => {
    const { server } = await serve(t, { limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    const { socket, closed } = await connect(server);
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // and never the blank line
    const answer = await closed;
    assert.match(answer, /^HTTP\/1\.1 408/, 'Request Timeout, then the connection is closed');
    assert.equal(await healthz(server), 200, 'still up');
  });

  it('closes connections past the cap, and takes new ones once others are gone', async (t) => {
    const { server } = await serve(t, { limits: { maxConnections: 2 } });
    const held = [await connect(server), await connect(server)];
    const third = await connect(server);
    assert.equal(await third.closed, '', 'closed at once, nothing sent');
    for (const h of held) h.socket.destroy();
    await waitFor(async () => (await healthz(server).catch(() => 0)) === 200, { what: 'a new connection is served', timeoutMs: 10_000 });
  });

  it('with --listen-token-file, POST /v1/git/sync needs the token (401 without, 401 wrong, then 202)', async (t) => {
    const { server, source } = await serve(t, { security: { token: TOKEN } });
    const none = await post(server, new Uint8Array(0));
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await post(server, new Uint8Array(0), { authorization: `Bearer ${TOKEN}x` })).status, 401);
    assert.equal(source.calls, 0);
    const ok = await post(server, new Uint8Array(0), { authorization: `Bearer ${TOKEN}` });
    assert.equal(ok.status, 202);
    assert.equal(source.calls, 1);
    assert.equal(await healthz(server), 200, 'reading needs no token');
  });

  it('the webhook signature is as good as the token, and the token as good as a signature', async (t) => {
    const secret = 'webhook-secret-0123456789';
    const { server, source } = await serve(t, { secret, security: { token: TOKEN } });
    const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main' }));
    assert.equal((await post(server, body, { 'x-hub-signature-256': `sha256=${signBody(body, secret)}` })).status, 202);
    assert.equal((await post(server, body, { authorization: `Bearer ${TOKEN}` })).status, 202);
    assert.equal((await post(server, body)).status, 401);
    assert.equal(source.calls, 2);
  });

  it('with a certificate, answers HTTPS (and nothing over plain HTTP)', async (t) => {
    const { server } = await serve(t, { security: { tls: { cert: cert.cert, key: cert.key }, token: TOKEN } });
    assert.equal(server.scheme, 'https');
    assert.deepEqual(await httpsGet(server.address, '/healthz', cert.cert), { status: 200, body: 'ok\n' });
    assert.equal((await httpsGet(server.address, '/v1/git/sync', cert.cert, 'POST', { authorization: `Bearer ${TOKEN}` })).status, 202);
    const plain = await fetch(`http://${server.address}/healthz`, { signal: AbortSignal.timeout(5_000) }).catch((err: Error) => err);
    assert.ok(plain instanceof Error || plain.status === 400, 'plain HTTP is not served');
    await assert.rejects(httpsGet(server.address, '/healthz', Buffer.from('')), 'a client that does not trust the certificate refuses it');
  });
});

describe('converge run --listen with a token and a certificate', () => {
  let env: Env;
  before(async () => {
    env = await Env.start();
  });
  after(async () => {
    await env?.cleanup();
  });

  it('serves HTTPS, wants the token for a Git sync, and `converge status` reads it', async (t) => {
    const s = await env.scenario(t, 'listen');
    const repo = await GitRepo.create(path.join(s.dir, 'git'));
    t.after(() => repo.cleanup());
    await repo.commit({ 'web.yaml': JSON.stringify(container('web', sleeper())) });
    await repo.push();
    const tokenFile = path.join(s.dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const c = await s.run(['--git', repo.fileUrl, '--git-interval', '1h', '--listen-token-file', tokenFile, '--tls-cert', cert.certPath, '--tls-key', cert.keyPath], []);
    const state = JSON.parse(readFileSync(path.join(s.stateDir, STATE_FILE), 'utf8')) as { scheme: string; listen: string };
    assert.equal(state.scheme, 'https');
    assert.deepEqual(await httpsGet(c.listen, '/healthz', cert.cert), { status: 200, body: 'ok\n' });
    assert.equal((await httpsGet(c.listen, '/v1/git/sync', cert.cert, 'POST')).status, 401);
    assert.equal((await httpsGet(c.listen, '/v1/git/sync?wait=1', cert.cert, 'POST', { authorization: `Bearer ${TOKEN}` })).status, 200);
    await s.waitRunning('default.web', { converge: c });
    await waitFor(
      async () => {
        const res = await cli(['status', '--state-dir', s.stateDir, '-o', 'json']);
        return res.code === 0 && (JSON.parse(res.stdout) as { name: string; phase: string }[]).some((r) => r.name === 'web' && r.phase === 'Running');
      },
      { what: '`converge status` over HTTPS shows web Running', timeoutMs: 20_000, detail: () => c.tail() },
    );
  });
});
