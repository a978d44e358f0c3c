// What a hostile or careless registry cannot make a pull do, against Debian's
// docker-registry on 127.0.0.1 and a real containerd: a manifest whose config claims 8 GiB,
// and one with 200 layers, fail with ImageTooLarge while this process's memory stays flat
// and nothing reaches the content store; --max-image-size, --min-free-disk with
// --pull-disk-path, and --pull-timeout each stop `converge pull`; a redirect to another
// scheme is refused; a token realm on plain http under a name that is not loopback is
// never asked; a registry's hostile error body reaches the message as one short line. A
// small front server on 127.0.0.1 plays the parts docker-registry will not (redirects,
// hostile bodies) and passes everything else through.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createContainerdRuntime } from '../../src/containerd/runtime.js';
import { noCredentials } from '../../src/pull/credentials.js';
import { startContainerd, uniqueNamespace, type PrivateContainerd } from '../harness/containerd.js';
import { ctr } from '../harness/exec.js';
import { listenLocal } from '../harness/net.js';
import { getManifest, pushBusybox, putManifest, startRegistry, type Registry } from '../harness/registry.js';
import { startTokenServer, type TokenServer } from '../harness/token.js';
import { cli, type CliResult } from './util.js';

const ISOLATED = '\n[plugins."io.containerd.metadata.v1.bolt"]\n  content_sharing_policy = "isolated"\n';
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const GiB = 2 ** 30;
const MiB = 2 ** 20;

let cd: PrivateContainerd;
let root: string;
let reg: Registry;
let busybox: { config: { mediaType: string; digest: string; size: number }; layers: { mediaType: string; digest: string; size: number }[] };
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  cd = await startContainerd({ extraConfig: ISOLATED });
  root = mkdtempSync(path.join(os.tmpdir(), 'converge-pull-bounds-'));
  reg = await startRegistry();
  await pushBusybox(reg, 'busybox', 'latest');
  await pushBusybox(reg, 'redirected', 'latest');
  busybox = JSON.parse((await getManifest(reg, 'busybox', 'latest')).data.toString()) as typeof busybox;
});

after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  await reg?.cleanup();
  await cd?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

function pull(namespace: string, image: string, extra: string[] = []): Promise<CliResult> {
  return cli(['pull', '--containerd-address', cd.address, '--namespace', namespace, '--state-dir', root, ...extra, image], 60_000);
}

const lines = async (ns: string, args: string[]): Promise<string[]> => (await ctr(cd.address, args, { namespace: ns })).stdout.split('\n').filter((l) => l.trim() !== '');
const content = (ns: string): Promise<string[]> => lines(ns, ['content', 'ls', '-q']);
const pullLeases = async (ns: string): Promise<string[]> => (await lines(ns, ['leases', 'ls', '-q'])).filter((l) => l.startsWith('converge-pull-'));

/** Pushes a manifest over busybox's real blobs, with `edit` applied to it; returns its reference. */
async function pushEdited(repo: string, edit: (m: typeof busybox) => typeof busybox): Promise<string> {
  await pushBusybox(reg, repo, 'base');
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, ...edit(structuredClone(busybox)) }));
  await putManifest(reg, repo, 'edited', MANIFEST_TYPE, manifest);
  return `${reg.host}/${repo}:edited`;
}

/** Pulls in this process (so its memory can be read), expecting a refusal; returns the error and the RSS growth. */
async function pullInProcess(ns: string, image: string): Promise<{ err: Error & { code?: string }; grew: number }> {
  const runtime = createContainerdRuntime({ address: cd.address, namespace: ns, stateDir: root, log: pino({ level: 'silent' }), registry: { credentials: noCredentials } });
  try {
    const before = process.memoryUsage().rss;
    const err = await runtime.pull(image).then(
      () => assert.fail('the pull must fail'),
      (e: Error) => e,
    );
    return { err, grew: process.memoryUsage().rss - before };
  } finally {
    runtime.close();
  }
}

describe('pull bounds against a real registry', () => {
  it('a config that claims 8 GiB: ImageTooLarge, memory flat, nothing stored', async () => {
    const claimed = 8 * GiB;
    const image = await pushEdited('bigconfig', (m) => ({ ...m, config: { ...m.config, size: claimed } }));
    const ns = uniqueNamespace('bigcfg');
    const seen = reg.requests.length;
    const { err, grew } = await pullInProcess(ns, image);
    assert.equal(err.code, 'ImageTooLarge', err.message);
    assert.match(err.message, /config sha256:[0-9a-f]{64} is 8589934592 bytes, over the 8388608 allowed \(--max-config-size\)/);
    assert.ok(grew < claimed / 100, `RSS grew by ${grew} bytes, far less than the ${claimed} claimed`);
    assert.deepEqual(await content(ns), [], 'nothing in the content store');
    assert.deepEqual(await pullLeases(ns), [], 'no lease held for a retry that cannot succeed');
    assert.deepEqual(reg.requests.slice(seen).map((r) => `${r.method} ${r.path}`), ['GET /v2/bigconfig/manifests/edited'], 'no blob was even asked for');
  });

  it('200 layers: ImageTooLarge, memory flat, nothing stored', async () => {
    const image = await pushEdited('manylayers', (m) => ({ ...m, layers: Array.from({ length: 200 }, () => m.layers[0]) }));
    const ns = uniqueNamespace('layers');
    const { err, grew } = await pullInProcess(ns, image);
    assert.equal(err.code, 'ImageTooLarge', err.message);
    assert.match(err.message, /200 layers, over the 128 allowed \(--max-layers\)/);
    assert.ok(grew < 64 * MiB, `RSS grew by ${grew} bytes`);
    assert.deepEqual(await content(ns), []);
  });

  it('--max-image-size and --min-free-disk (on --pull-disk-path) stop `converge pull` before it stores anything', async () => {
    const image = `${reg.host}/busybox:latest`;
    const small = uniqueNamespace('small');
    const tooBig = await pull(small, image, ['--max-image-size', '512Ki']);
    assert.equal(tooBig.code, 1, tooBig.stdout);
    assert.match(tooBig.stderr, /^converge pull: ImageTooLarge: .* bytes in config and layers, over the 524288 allowed \(--max-image-size\)$/m);
    assert.deepEqual(await content(small), []);

    // A 1 MiB tmpfs cannot hold a 1 MiB image three times over.
    const tiny = path.join(root, 'tiny');
    mkdirSync(tiny);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'converge-test', tiny]);
    cleanups.push(() => void execFileSync('umount', [tiny]));
    const full = uniqueNamespace('full');
    const noRoom = await pull(full, image, ['--pull-disk-path', tiny, '--min-free-disk', '0']);
    assert.equal(noRoom.code, 1, noRoom.stdout);
    assert.match(noRoom.stderr, new RegExp(`^converge pull: InsufficientDisk: .* but ${tiny} has \\d+ free$`, 'm'));
    assert.deepEqual(await content(full), []);
    const hugeReserve = await pull(full, image, ['--min-free-disk', '1Pi']);
    assert.match(hugeReserve.stderr, /InsufficientDisk: .*1125899906842624 kept free \(--min-free-disk\)/);
    const fine = await pull(full, image);
    assert.equal(fine.code, 0, fine.stderr);
  });

  it('--pull-timeout ends a pull that crawls, and what arrived is kept for the next try', async (t) => {
    t.after(() => reg.throttle(undefined));
    reg.throttle(20_000); // a 1 MiB layer would take about a minute
    const ns = uniqueNamespace('slow');
    const res = await pull(ns, `${reg.host}/busybox:latest`, ['--pull-timeout', '2s']);
    assert.equal(res.code, 1, res.stdout);
    assert.match(res.stderr, /^converge pull: PullTimeout: .*not pulled within 2000 ms \(--pull-timeout\)/m);
    const layer = busybox.layers[0].digest;
    const active = (await lines(ns, ['content', 'active'])).find((l) => l.startsWith(`converge-pull-${layer}`));
    assert.ok(active, 'the half-fetched layer is kept as an ingest, for the next try to resume');
  });
});

/** A front for the registry on 127.0.0.1: `answer` may reply itself; anything else is passed through. */
async function startFront(answer: (url: string) => { status: number; headers?: Record<string, string>; body?: string } | undefined): Promise<string> {
  const server = http.createServer((req, res) => {
    const own = answer(req.url ?? '/');
    if (own) {
      res.writeHead(own.status, own.headers).end(own.body ?? '');
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of ['accept', 'authorization', 'range']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
    fetch(`http://${reg.host}${req.url}`, { method: req.method, headers, redirect: 'manual' }).then(
      async (up) => {
        const body = Buffer.from(await up.arrayBuffer());
        const out: Record<string, string> = {};
        up.headers.forEach((v, k) => k !== 'transfer-encoding' && k !== 'content-length' && (out[k] = v));
        res.writeHead(up.status, { ...out, 'content-length': String(body.length) }).end(body);
      },
      () => res.writeHead(502).end(),
    );
  });
  const port = await listenLocal(server);
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `127.0.0.1:${port}`;
}

describe('what a registry says and where it sends us', () => {
  let front: string;
  before(async () => {
    front = await startFront((url) => {
      if (/^\/v2\/redirected\/blobs\//.test(url)) return { status: 307, headers: { location: `https://127.0.0.1:9/storage${url}` } };
      if (/^\/v2\/hostile\/manifests\//.test(url)) return { status: 500, body: `\u001b[2J\u001b]0;pwned\u0007${'Set-Cookie: a=b\r\n'.repeat(100_000)}` };
      return undefined;
    });
  });

  it('refuses a redirect to another scheme, and stores none of the blob', async () => {
    const ns = uniqueNamespace('redir');
    const res = await pull(ns, `${front}/redirected:latest`);
    assert.equal(res.code, 1, res.stdout);
    assert.match(res.stderr, /^converge pull: RegistryError: blob sha256:[0-9a-f]{64} from 127\.0\.0\.1:\d+: a redirect from http: to https: is refused \(to https:\/\/127\.0\.0\.1:9\)$/m);
    assert.ok(!(await content(ns)).some((d) => busybox.layers.some((l) => l.digest === d)));
  });

  it("keeps a registry's hostile error body to one short, escaped line", async () => {
    const res = await pull(uniqueNamespace('hostile'), `${front}/hostile:latest`);
    assert.equal(res.code, 1, res.stdout);
    assert.equal(res.stderr.split('\n').length, 2, 'one line, then the newline');
    assert.ok(res.stderr.length < 600, `short (${res.stderr.length})`);
    assert.match(res.stderr, /^converge pull: RegistryError: manifest hostile:latest from 127\.0\.0\.1:\d+: 500 \\u001b\[2J\\u001b\]0;pwned\\u0007Set-Cookie: a=b\\r\\n/);
  });

  it('never asks a token realm on plain http under a name that is not loopback', async () => {
    const tokens: TokenServer = await startTokenServer({ bob: 'pw' });
    cleanups.push(() => tokens.close());
    const guarded = await startRegistry({ token: { ...tokens, realm: 'http://auth.example.invalid/token' } });
    cleanups.push(() => guarded.cleanup());
    // Nothing needs to be in it: the pull stops at the registry's first 401, whose challenge names the realm.
    const res = await pull(uniqueNamespace('realm'), `${guarded.host}/team/app:v1`);
    assert.equal(res.code, 1, res.stdout);
    assert.match(res.stderr, /^converge pull: Unauthorized: registry 127\.0\.0\.1:\d+: token realm http:\/\/auth\.example\.invalid is not https; refused/);
    assert.equal(tokens.requests.length, 0);
  });
});
