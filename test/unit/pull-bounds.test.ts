// What a registry may make a pull do, without a registry: a fake fetch plays the registry
// (and its token server) so the rules are tested on their own: limits checked before a
// byte is written, the deadline, redirects (scheme, count, where credentials go), token
// realms (https, and whose credentials they get), and registry text made safe to show.
// test/integration/pull-bounds.test.ts runs the same against a real registry.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { CredentialStore } from '../../src/pull/credentials.js';
import { type Descriptor, digestOf } from '../../src/pull/descriptor.js';
import { ImageTooLargeError, InsufficientDiskError, PullTimeoutError, RegistryError, UnauthorizedError } from '../../src/pull/errors.js';
import { DEFAULT_PULL_LIMITS, DISK_FACTOR, checkDisk, checkImage } from '../../src/pull/limits.js';
import type { ImageManifest } from '../../src/pull/manifest.js';
import { Puller } from '../../src/pull/puller.js';
import { MAX_REDIRECTS, fetchFollowing, redirectRefusal, type FetchFn } from '../../src/pull/redirect.js';
import { RegistryClient } from '../../src/pull/registry.js';
import { remoteText } from '../../src/pull/response.js';
import type { BlobStore, BlobWriter, ImageStore } from '../../src/pull/store.js';
import { pullLimitsFromFlags } from '../../src/cli/pull-limits.js';
import { parseReference } from '../../src/spec/reference.js';

const log = pino({ level: 'silent' });
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
const LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';
const CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json';
const desc = (digestSeed: string, size: number, mediaType = LAYER_TYPE): Descriptor => ({ mediaType, digest: digestOf(Buffer.from(digestSeed)), size, annotations: {} });

const noCreds: CredentialStore = { source: '(test)', get: async () => undefined };
function creds(entries: Record<string, { username: string; password: string }>): CredentialStore {
  return { source: 'config.json', get: async (domain) => entries[domain] };
}

/** A fetch that answers from `route`, recording each request (URL and Authorization). */
function fakeFetch(route: (url: URL, init: RequestInit) => Response | Promise<Response>) {
  const seen: { url: string; authorization?: string }[] = [];
  const fn: FetchFn = async (url, init) => {
    const headers = (init.headers ?? {}) as Record<string, string>;
    seen.push({ url: url.href, authorization: headers.authorization });
    return route(url, init);
  };
  return { fn, seen };
}

const redirect = (location: string, status = 302): Response => new Response(null, { status, headers: { location } });

test('limits: a config, a layer count or a total over its bound is refused, naming the flag', () => {
  const image = (configSize: number, layers: number, layerSize = 10): ImageManifest => ({
    config: desc('config', configSize, CONFIG_TYPE),
    layers: Array.from({ length: layers }, (_, i) => desc(`layer${i}`, layerSize)),
  });
  checkImage('x', image(1000, 3), DEFAULT_PULL_LIMITS);
  assert.throws(() => checkImage('x', image(8 * 2 ** 30, 1), DEFAULT_PULL_LIMITS), (err: Error) => err instanceof ImageTooLargeError && /--max-config-size/.test(err.message));
  assert.throws(() => checkImage('x', image(100, 129), DEFAULT_PULL_LIMITS), (err: Error) => err instanceof ImageTooLargeError && /129 layers.*--max-layers/.test(err.message));
  assert.throws(() => checkImage('x', image(100, 2, 2 ** 40), DEFAULT_PULL_LIMITS), (err: Error) => err instanceof ImageTooLargeError && /--max-image-size/.test(err.message));
});

test('limits: the disk must hold what is missing, three times over, plus --min-free-disk', async () => {
  const limits = { ...DEFAULT_PULL_LIMITS, minFreeDiskBytes: 1000 };
  const free = (n: number) => ({ path: '/state', free: async () => n });
  await checkDisk('x', 100, free(100 * DISK_FACTOR + 1000), limits);
  await assert.rejects(checkDisk('x', 100, free(100 * DISK_FACTOR + 999), limits), (err: Error) => err instanceof InsufficientDiskError && /\/state has 1299 free/.test(err.message));
  // Nothing to fetch: nothing to check (an image that is all there re-pulls on a full disk).
  await checkDisk('x', 0, free(0), limits);
});

test('limit flags: the defaults are the documented ones; bad values are refused', () => {
  const defaults = { 'max-manifest-size': '4Mi', 'max-config-size': '8Mi', 'max-layers': '128', 'max-image-size': '16Gi', 'pull-timeout': '30m', 'min-free-disk': '1Gi' };
  assert.deepEqual(pullLimitsFromFlags(defaults), { limits: DEFAULT_PULL_LIMITS, diskPath: undefined });
  assert.equal(pullLimitsFromFlags({ ...defaults, 'pull-disk-path': 'rel' }).diskPath?.endsWith('/rel'), true);
  assert.throws(() => pullLimitsFromFlags({ ...defaults, 'max-layers': '0' }), /--max-layers/);
  assert.throws(() => pullLimitsFromFlags({ ...defaults, 'max-config-size': 'lots' }), /--max-config-size/);
  assert.throws(() => pullLimitsFromFlags({ ...defaults, 'pull-timeout': '10ms' }), /--pull-timeout/);
});

/** A store that records whether a pull ever began. */
function store() {
  const begun: string[] = [];
  const s: ImageStore = {
    async begin(name) {
      begun.push(name);
      throw new Error('the store must not be reached');
    },
  };
  return { store: s, begun };
}

test('a manifest whose config claims 8 GiB is refused before anything is fetched or stored', async () => {
  const config = desc('config', 8 * 2 ** 30, CONFIG_TYPE);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, config, layers: [desc('l', 10)] }));
  const { fn, seen } = fakeFetch((url) =>
    url.pathname.includes('/manifests/') ? new Response(manifest, { headers: { 'content-type': MANIFEST_TYPE } }) : new Response('never asked', { status: 500 }),
  );
  const { store: s, begun } = store();
  const puller = new Puller({ store: s, log, registry: new RegistryClient({ credentials: noCreds, fetch: fn }) });
  await assert.rejects(puller.pull('registry.test/app:1'), (err: Error) => err instanceof ImageTooLargeError && /config .* is 8589934592 bytes/.test(err.message));
  assert.deepEqual(begun, []);
  assert.deepEqual(seen.map((r) => new URL(r.url).pathname), ['/v2/app/manifests/1']);
});

test('a manifest over --max-manifest-size is not read past the bound', async () => {
  const { fn } = fakeFetch(() => new Response(Buffer.alloc(5000, 'x'), { headers: { 'content-type': MANIFEST_TYPE } }));
  const { store: s } = store();
  const puller = new Puller({ store: s, log, registry: new RegistryClient({ credentials: noCreds, fetch: fn, maxManifestBytes: 4096 }) });
  await assert.rejects(puller.pull('registry.test/app:1'), ImageTooLargeError);
});

test('a pull that outlives --pull-timeout fails with PullTimeout', async () => {
  // The registry accepts the connection and never answers.
  const { fn } = fakeFetch((_url, init) => new Promise<Response>((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true })));
  const { store: s } = store();
  const puller = new Puller({ store: s, log, limits: { timeoutMs: 50 }, registry: new RegistryClient({ credentials: noCreds, fetch: fn }) });
  await assert.rejects(puller.pull('registry.test/app:1'), (err: Error) => err instanceof PullTimeoutError && /--pull-timeout/.test(err.message));
});

test('redirects: only to the same scheme; never https to http or to another scheme', () => {
  const u = (s: string) => new URL(s);
  assert.equal(redirectRefusal(u('https://r.test/a'), u('https://s3.test/b')), undefined);
  assert.equal(redirectRefusal(u('http://127.0.0.1/a'), u('http://127.0.0.1:81/b')), undefined);
  assert.match(redirectRefusal(u('http://127.0.0.1/a'), u('https://s3.test/b')) ?? '', /from http: to https:/);
  assert.match(redirectRefusal(u('https://r.test/a'), u('http://s3.test/b')) ?? '', /from https: to http:/);
  assert.match(redirectRefusal(u('http://r.test/a'), u('file:///etc/passwd')) ?? '', /to file:/);
});

test('redirects: a blob redirected from https to http is refused, and nothing is asked of the http URL', async () => {
  const { fn, seen } = fakeFetch((url) => (url.protocol === 'https:' ? redirect('http://storage.test/blob') : new Response('leaked')));
  const client = new RegistryClient({ credentials: noCreds, fetch: fn });
  const repo = client.repository(parseReference('registry.test/app:1'));
  await assert.rejects(repo.blob(desc('b', 6), 0), (err: Error) => err instanceof RegistryError && /from https: to http: is refused/.test(err.message));
  assert.deepEqual(seen.map((r) => new URL(r.url).protocol), ['https:']);
});

test('redirects: at most MAX_REDIRECTS hops; Authorization only to the origin that asked', async () => {
  let hop = 0;
  const { fn, seen } = fakeFetch((url) => (url.hostname === 'storage.test' ? redirect(`https://storage.test/${++hop}`) : redirect('https://storage.test/0')));
  const signal = new AbortController().signal;
  await assert.rejects(
    fetchFollowing('https://r.test/v2/a/blobs/x', { fetch: fn, headers: { authorization: 'Bearer secret' }, signal, authOrigin: 'https://r.test', what: 'blob' }),
    (err: Error) => err instanceof RegistryError && /more than 5 redirects/.test(err.message),
  );
  assert.equal(seen.length, MAX_REDIRECTS + 1);
  assert.equal(seen[0].authorization, 'Bearer secret');
  assert.ok(seen.slice(1).every((r) => r.authorization === undefined), 'no credentials to storage');
});

test('token realms: plain http on a name that is not loopback is refused before it is asked', async () => {
  const { fn, seen } = fakeFetch((url) =>
    url.hostname === 'registry.test' ? new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="http://auth.example.com/token",service=r' } }) : new Response('{"token":"t"}'),
  );
  const client = new RegistryClient({ credentials: creds({ 'registry.test': { username: 'u', password: 'p' } }), fetch: fn });
  await assert.rejects(client.repository(parseReference('registry.test/app:1')).manifest('1'), (err: Error) => err instanceof UnauthorizedError && /is not https; refused/.test(err.message));
  assert.ok(seen.every((r) => new URL(r.url).hostname === 'registry.test'));
});

test("token realms: the registry's credentials go to its own host only; another host gets its own entry or none", async () => {
  const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
  const run = async (realm: string, entries: Record<string, { username: string; password: string }>) => {
    const { fn, seen } = fakeFetch((url, init) => {
      if (url.pathname === '/token') return new Response(JSON.stringify({ token: 'tok' }));
      const auth = (init.headers as Record<string, string>).authorization;
      if (auth !== 'Bearer tok') return new Response('', { status: 401, headers: { 'www-authenticate': `Bearer realm="${realm}",service=r` } });
      return new Response('{}', { headers: { 'content-type': MANIFEST_TYPE } });
    });
    await new RegistryClient({ credentials: creds(entries), fetch: fn }).repository(parseReference('registry.test:5000/app:1')).manifest('1');
    return seen.find((r) => new URL(r.url).pathname === '/token')?.authorization;
  };
  const mine = { 'registry.test:5000': { username: 'me', password: 'pw' } };
  assert.equal(await run('https://registry.test:5001/token', mine), basic('me', 'pw'), 'same host, other port: the same party');
  assert.equal(await run('https://auth.elsewhere.test/token', mine), undefined, 'another host: nothing');
  assert.equal(await run('https://auth.elsewhere.test/token', { ...mine, 'auth.elsewhere.test': { username: 'them', password: 'x' } }), basic('them', 'x'), "another host: that host's own entry");
});

test('registry error bodies reach a message bounded, escaped and on one line', async () => {
  const hostile = `${'\x1b[31mred\n'.repeat(50_000)}`;
  const { fn } = fakeFetch(() => new Response(hostile, { status: 500 }));
  const client = new RegistryClient({ credentials: noCreds, fetch: fn });
  await assert.rejects(client.repository(parseReference('registry.test/app:1')).manifest('1'), (err: Error) => {
    assert.ok(err instanceof RegistryError);
    assert.ok(!/[\n\r\x1b]/.test(err.message), 'no control characters');
    assert.ok(err.message.length < 400, `bounded (${err.message.length})`);
    assert.match(err.message, /500 \\u001b\[31mred\\n/);
    return true;
  });
  const json = JSON.stringify({ errors: [{ code: 'DENIED', message: 'no\r\nSet-Cookie: x' }] });
  const { fn: fn2 } = fakeFetch(() => new Response(json, { status: 403 }));
  await assert.rejects(new RegistryClient({ credentials: noCreds, fetch: fn2 }).repository(parseReference('registry.test/app:1')).manifest('1'), (err: Error) => {
    assert.ok(err instanceof UnauthorizedError);
    assert.match(err.message, /403 DENIED: no\\r\\nSet-Cookie: x$/);
    return true;
  });
  assert.equal(remoteText('a'.repeat(300)).length, 201);
});

/** A store in memory that takes blobs and "unpacks" by counting; enough for a whole pull. */
function memoryStore() {
  const blobs = new Map<string, Buffer>();
  const unpacked: string[] = [];
  const blobStore: BlobStore = {
    async writer(desc) {
      if (blobs.has(desc.digest)) return undefined;
      let data = Buffer.alloc(0);
      const w: BlobWriter = {
        get offset() {
          return data.length;
        },
        get digest() {
          return digestOf(data);
        },
        async write(chunk, offset) {
          data = Buffer.concat([data.subarray(0, offset), chunk]);
        },
        async commit(whole) {
          blobs.set(desc.digest, whole ?? data);
        },
        async discard() {},
        close() {},
      };
      return w;
    },
    async read(desc) {
      return blobs.get(desc.digest);
    },
    async has(desc) {
      return blobs.has(desc.digest);
    },
  };
  const store: ImageStore = {
    async begin() {
      return {
        blobs: blobStore,
        async unpack(layer) {
          unpacked.push(layer.digest);
          return true;
        },
        async finish() {},
      };
    },
  };
  return { store, unpacked };
}

/** A registry (fake fetch) serving one image of `layers` layers. */
function imageRegistry(layers: number) {
  const layerData = Array.from({ length: layers }, (_, i) => Buffer.from(`layer ${i}`));
  const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: layerData.map((d) => digestOf(d)) } }));
  const d = (data: Buffer, mediaType: string): Descriptor => ({ mediaType, digest: digestOf(data), size: data.length, annotations: {} });
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST_TYPE, config: d(config, CONFIG_TYPE), layers: layerData.map((l) => d(l, LAYER_TYPE)) }));
  const byDigest = new Map([config, ...layerData].map((b) => [digestOf(b), b]));
  return fakeFetch((url) => {
    if (url.pathname.includes('/manifests/')) return new Response(manifest, { headers: { 'content-type': MANIFEST_TYPE } });
    const blob = byDigest.get(url.pathname.split('/').pop() ?? '');
    return blob ? new Response(blob) : new Response('', { status: 404 });
  });
}

test('the disk reserve is checked again before each layer is unpacked', async () => {
  const { fn } = imageRegistry(3);
  const { store: s, unpacked } = memoryStore();
  let free = 10 * 2 ** 30;
  const disk = { path: '/state', free: async () => free };
  // Each unpack eats the disk, as a layer that unpacks to far more than it weighs would.
  const eating: ImageStore = {
    async begin(name, platform) {
      const inner = await s.begin(name, platform);
      return { ...inner, unpack: async (...args) => ((free -= 5 * 2 ** 30), inner.unpack(...args)) };
    },
  };
  const hungry = new Puller({ store: eating, log, disk, limits: { minFreeDiskBytes: 2 ** 30 }, registry: new RegistryClient({ credentials: noCreds, fetch: fn }) });
  await assert.rejects(hungry.pull('registry.test/app:1'), (err: Error) => err instanceof InsufficientDiskError && /unpacking left \/state with/.test(err.message));
  assert.equal(unpacked.length, 2, 'the third layer is not unpacked');
  // With room to spare, the same image pulls whole.
  free = 10 * 2 ** 30;
  unpacked.length = 0;
  const { fn: fn2 } = imageRegistry(3);
  const fine = new Puller({ store: memoryStore().store, log, disk, registry: new RegistryClient({ credentials: noCreds, fetch: fn2 }) });
  assert.equal((await fine.pull('registry.test/app:1')).name, 'registry.test/app:1');
});
