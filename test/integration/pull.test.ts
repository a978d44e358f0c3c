// Pulling images from a real registry (Debian's docker-registry, the busybox test image
// pushed with skopeo) into a real containerd: by tag and digest, from a two-platform index,
// with htpasswd and token auth, refusing wrong passwords, missing tags and corrupted
// blobs; and under `converge run`: Pulling with progress, a registry killed mid-pull and
// brought back (the pull resumes), one pull for two specs, failures kept to their container.
// The containerd keeps each namespace's content to itself, so every pull here is cold.

import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startContainerd, uniqueNamespace, type PrivateContainerd } from '../harness/containerd.js';
import { pino } from 'pino';
import { createContainerdRuntime } from '../../src/containerd/runtime.js';
import { ctr } from '../harness/exec.js';
import { ociArch } from '../harness/image.js';
import { getManifest, pushBusybox, pushTwoPlatformIndex, startRegistry, type Registry } from '../harness/registry.js';
import { startTokenServer } from '../harness/token.js';
import { cli, container, Scenario, sleeper, waitFor, type CliResult, type Env } from './util.js';

const ISOLATED = '\n[plugins."io.containerd.metadata.v1.bolt"]\n  content_sharing_policy = "isolated"\n';

let cd: PrivateContainerd;
let root: string;
let reg: Registry;
let hostDigest: string;
let multi: { index: string; host: string; other: string; otherArch: string };
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  cd = await startContainerd({ extraConfig: ISOLATED });
  root = mkdtempSync(path.join(os.tmpdir(), 'converge-pull-'));
  reg = await startRegistry();
  hostDigest = await pushBusybox(reg, 'busybox', 'latest');
  await pushBusybox(reg, 'busybox', 'v1');
  multi = await pushTwoPlatformIndex(reg, 'busybox', 'multi', 'latest', ociArch());
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await reg?.cleanup();
  await cd?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

function pull(namespace: string, image: string, extra: string[] = []): Promise<CliResult> {
  return cli(['pull', '--containerd-address', cd.address, '--namespace', namespace, ...extra, image], 60_000);
}

async function ctrLines(namespace: string, args: string[]): Promise<string[]> {
  return (await ctr(cd.address, args, { namespace })).stdout.split('\n').filter((l) => l.trim() !== '');
}

const images = (ns: string): Promise<string[]> => ctrLines(ns, ['images', 'ls', '-q']);
const content = async (ns: string): Promise<string[]> => (await ctrLines(ns, ['content', 'ls', '-q'])).map((l) => l.trim());
/** Writes a docker config.json with one registry's credentials; returns its path. */
function registryConfig(host: string, user: string, password: string): string {
  const dir = mkdtempSync(path.join(root, 'cfg-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }));
  return file;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('converge pull', () => {
  it('pulls by tag into containerd (content, unpacked layers, image record), about as fast as ctr pull', async (t) => {
    const name = `${reg.host}/busybox:latest`;
    const ns = uniqueNamespace('pull');
    let began = Date.now();
    const res = await pull(ns, name);
    const first = Date.now() - began;
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`^pulled ${name} ${hostDigest} \\(1\\.0 MiB, 1\\.0 MiB fetched, [0-9]+ ms\\)\\n$`));
    assert.deepEqual(await images(ns), [name]);
    const manifest = JSON.parse((await getManifest(reg, 'busybox', 'latest')).data.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    assert.deepEqual((await content(ns)).sort(), [hostDigest, manifest.config.digest, manifest.layers[0].digest].sort());
    // The layer is committed under its chain ID (one layer: its diff ID), as containerd's unpacker names it.
    const labels = (await ctrLines(ns, ['content', 'ls'])).find((l) => l.startsWith(manifest.layers[0].digest)) ?? '';
    const diffId = /containerd\.io\/uncompressed=(sha256:[0-9a-f]{64})/.exec(labels)?.[1];
    assert.ok(diffId, labels);
    assert.ok((await ctrLines(ns, ['snapshots', 'ls'])).some((l) => l.startsWith(`${diffId} `) && /Committed/.test(l)));
    assert.deepEqual(await ctrLines(ns, ['leases', 'ls', '-q']), [], 'the lease of a finished pull is gone');
    const run = await ctr(cd.address, ['run', '--rm', name, `pulled-${process.pid}`, '/bin/echo', 'ran from a pulled image'], { namespace: ns });
    assert.equal(run.stdout.trim(), 'ran from a pulled image');

    // Cold pulls, each into a fresh namespace, alternating: ctr (a Go process), converge's
    // puller in this process (what `run` does), and `converge pull` (a Node process: its
    // start-up is most of the difference).
    const cliMs: number[] = [first];
    const inProcess: number[] = [];
    const theirs: number[] = [];
    const quiet = pino({ level: 'silent' });
    for (let i = 0; i < 3; i++) {
      began = Date.now();
      await ctr(cd.address, ['images', 'pull', '--plain-http', name], { namespace: uniqueNamespace('ctr'), timeoutMs: 60_000 });
      theirs.push(Date.now() - began);
      const runtime = createContainerdRuntime({ address: cd.address, namespace: uniqueNamespace('pull'), stateDir: root, log: quiet });
      try {
        began = Date.now();
        const pulled = await runtime.pull(name);
        inProcess.push(Date.now() - began);
        assert.equal(pulled.fetched, pulled.size, 'a cold pull fetches everything');
      } finally {
        runtime.close();
      }
      if (i === 2) break;
      began = Date.now();
      const again = await pull(uniqueNamespace('pull'), name);
      cliMs.push(Date.now() - began);
      assert.equal(again.code, 0, again.stderr);
    }
    t.diagnostic(
      `cold pull + unpack of ${name} (1.0 MiB), median of 3: ctr images pull --plain-http ${median(theirs)} ms (${theirs.join('/')}), ` +
        `converge in-process ${median(inProcess)} ms (${inProcess.join('/')}), converge pull command ${median(cliMs)} ms (${cliMs.join('/')})`,
    );
    assert.ok(median(inProcess) < median(theirs) * 3 + 500, `converge's pull is not far slower than ctr's: ${inProcess} vs ${theirs}`);
  });

  it('pulls by digest; a digest or tag or repository the registry lacks is ImageNotFound, and nothing is stored', async () => {
    const ns = uniqueNamespace('pull');
    const byDigest = `${reg.host}/busybox@${hostDigest}`;
    const ok = await pull(ns, byDigest);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(await images(ns), [byDigest]);

    const empty = uniqueNamespace('pull');
    const cases: [string, RegExp][] = [
      [`${reg.host}/busybox@sha256:${'0'.repeat(64)}`, /^converge pull: ImageNotFound: not found: manifest busybox:sha256:0+ from 127\.0\.0\.1:[0-9]+: 404 MANIFEST_UNKNOWN/],
      [`${reg.host}/busybox:no-such-tag`, /^converge pull: ImageNotFound: not found: manifest busybox:no-such-tag from .*: 404 MANIFEST_UNKNOWN/],
      [`${reg.host}/no/such/repo:1`, /^converge pull: ImageNotFound: not found: manifest no\/such\/repo:1 from .*: 404 (NAME|MANIFEST)_UNKNOWN/],
    ];
    for (const [image, why] of cases) {
      const res = await pull(empty, image);
      assert.equal(res.code, 1, `${image}: ${res.stdout}`);
      assert.match(res.stderr, why);
      assert.equal(res.stderr.split('\n').filter(Boolean).length, 1, 'one line: the error');
    }
    assert.deepEqual(await images(empty), []);
    assert.deepEqual(await content(empty), []);
    const bad = await pull(empty, 'Bad/Name');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /InvalidReference: invalid image reference 'Bad\/Name': repository name must be lowercase/);
  });

  it("takes the machine's manifest from a two-platform index, another with --platform, and says so when none fits", async () => {
    const ns = uniqueNamespace('pull');
    const name = `${reg.host}/busybox:multi`;
    const res = await pull(ns, name);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`^pulled ${name} ${multi.index} `));
    let stored = await content(ns);
    assert.ok(stored.includes(multi.index) && stored.includes(multi.host), 'index and the host manifest are stored');
    assert.ok(!stored.includes(multi.other), `the ${multi.otherArch} manifest is not fetched`);
    const row = (await ctrLines(ns, ['images', 'ls'])).find((l) => l.startsWith(name)) ?? '';
    assert.match(row, /application\/vnd\.oci\.image\.index\.v1\+json/);

    const other = await pull(ns, name, ['--platform', `linux/${multi.otherArch}`]);
    assert.equal(other.code, 0, other.stderr);
    stored = await content(ns);
    assert.ok(stored.includes(multi.other), `--platform linux/${multi.otherArch} fetched its manifest`);

    const none = await pull(ns, name, ['--platform', 'linux/s390x']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, new RegExp(`NoMatchingPlatform: .*no manifest for linux/s390x \\(the index has linux/${multi.otherArch}, linux/${ociArch()}\\)`));
  });

  it('authenticates with htpasswd (Basic) from a docker config.json; refuses no or wrong credentials', async () => {
    const creds = { user: 'alice', password: 'right-horse' };
    const basic = await startRegistry({ htpasswd: creds });
    cleanups.push(() => basic.cleanup());
    await pushBusybox(basic, 'private/app', 'v1', creds);
    const name = `${basic.host}/private/app:v1`;
    const ns = uniqueNamespace('auth');
    const empty = path.join(mkdtempSync(path.join(root, 'cfg-')), 'config.json');

    const anonymous = await pull(ns, name, ['--registry-config', empty]);
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, new RegExp(`Unauthorized: registry ${basic.host} asks for a username and password; none for ${basic.host} in ${empty}`));
    const wrong = await pull(ns, name, ['--registry-config', registryConfig(basic.host, 'alice', 'wrong')]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /Unauthorized: access denied to manifest private\/app:v1 from .*: 401 UNAUTHORIZED/);
    assert.deepEqual(await images(ns), []);

    const right = await pull(ns, name, ['--registry-config', registryConfig(basic.host, creds.user, creds.password)]);
    assert.equal(right.code, 0, right.stderr);
    assert.deepEqual(await images(ns), [name]);
  });

  it('authenticates with a bearer token from the realm the challenge names; refuses a wrong password', async () => {
    const tokens = await startTokenServer({ bob: 'tok-pass' });
    cleanups.push(() => tokens.close());
    const bearer = await startRegistry({ token: tokens });
    cleanups.push(() => bearer.cleanup());
    await pushBusybox(bearer, 'team/app', 'v2', { user: 'bob', password: 'tok-pass' });
    const name = `${bearer.host}/team/app:v2`;
    const ns = uniqueNamespace('auth');
    const seen = tokens.requests.length;

    const wrong = await pull(ns, name, ['--registry-config', registryConfig(bearer.host, 'bob', 'nope')]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /Unauthorized: registry .*: token server refused user 'bob' from .*config\.json: 401/);
    const right = await pull(ns, name, ['--registry-config', registryConfig(bearer.host, 'bob', 'tok-pass')]);
    assert.equal(right.code, 0, right.stderr);
    assert.deepEqual(await images(ns), [name]);
    const asked = tokens.requests.slice(seen);
    assert.deepEqual(asked.map((r) => [r.user, r.granted]), [['bob', false], ['bob', true]]);
    assert.equal(asked[1].scope, 'repository:team/app:pull');
  });

  it('refuses a blob whose bytes do not match its digest, and stores nothing of it', async () => {
    const bad = await startRegistry();
    cleanups.push(() => bad.cleanup());
    await pushBusybox(bad, 'busybox', 'latest');
    const manifest = JSON.parse((await getManifest(bad, 'busybox', 'latest')).data.toString()) as { layers: { digest: string; size: number }[] };
    const layer = manifest.layers[0];
    const file = bad.blobPath(layer.digest);
    assert.equal(statSync(file).size, layer.size);
    writeFileSync(file, randomBytes(layer.size)); // same size, other bytes
    const ns = uniqueNamespace('bad');
    const res = await pull(ns, `${bad.host}/busybox:latest`);
    assert.equal(res.code, 1, res.stdout);
    assert.match(res.stderr, new RegExp(`DigestMismatch: blob ${layer.digest} from .*: content hashes to sha256:[0-9a-f]{64}; refused`));
    assert.ok(!(await content(ns)).includes(layer.digest), 'the bad layer is not in the store');
    assert.deepEqual(await ctrLines(ns, ['content', 'active']).then((l) => l.slice(1)), [], 'nor a half-written ingest of it');
    assert.deepEqual(await images(ns), []);
  });
});

describe('converge run pulls images', () => {
  /** A scenario in a fresh namespace of this file's containerd (no image imported). */
  function scenario(t: TestContext): Scenario {
    const dir = mkdtempSync(path.join(root, 'run-'));
    mkdirSync(dir, { recursive: true });
    const s = new Scenario({ address: cd.address } as Env, uniqueNamespace('run'), dir);
    t.after(() => s.cleanup());
    return s;
  }

  /** A spec on `image` with Kubernetes' default pull policy (the helper's IfNotPresent removed). */
  function spec(name: string, image: string, policy?: 'Always' | 'IfNotPresent' | 'Never') {
    const doc = container(name, { ...sleeper(), image });
    delete doc.spec.imagePullPolicy;
    if (policy) doc.spec.imagePullPolicy = policy;
    return doc;
  }

  it('shows Pulling with progress, retries a registry killed mid-pull, resumes the blob and runs the container', async (t) => {
    const flaky = await startRegistry();
    t.after(() => flaky.cleanup());
    await pushBusybox(flaky, 'busybox', 'latest');
    const layer = (JSON.parse((await getManifest(flaky, 'busybox', 'latest')).data.toString()) as { layers: { digest: string; size: number }[] }).layers[0];
    flaky.throttle(150_000); // bytes per second: the 1 MiB layer takes some 7 s
    const s = scenario(t);
    const image = `${flaky.host}/busybox:latest`;
    s.write('web.yaml', spec('web', image));
    const c = await s.run(['--insecure-registry', flaky.host]);

    const pulling = await c.waitRow('web', (r) => r.phase === 'Pulling' && / MiB of 1\.0 MiB \([1-9][0-9]?%\)/.test(r.message), 'Pulling with progress');
    assert.match(pulling.message, new RegExp(`^pulling ${image.replace(/[.]/g, '\\.')}: [0-9.]+ MiB of 1\\.0 MiB`));
    await waitFor(() => flaky.bytesDown > 300_000, { what: 'a third of the layer through', timeoutMs: 20_000 });
    await flaky.kill();
    const failed = await c.waitRow('web', (r) => /RegistryUnreachable/.test(r.message), 'the failure on the row');
    assert.match(failed.message, new RegExp(`RegistryUnreachable: registry ${flaky.host}`));
    // What came before the cut is kept in containerd, under the pull's lease.
    const active = (await s.ctr(['content', 'active'])).split('\n').find((l) => l.startsWith(`converge-pull-${layer.digest}`)) ?? '';
    assert.ok(active, `an ingest of the layer is kept: ${await s.ctr(['content', 'active'])}`);

    flaky.throttle(undefined);
    await flaky.start();
    await s.waitRunning('default.web', { converge: c, timeoutMs: 40_000 });
    const ranges = flaky.requests.filter((r) => r.path.endsWith(`/blobs/${layer.digest}`) && r.range);
    const from = Number(/^bytes=([0-9]+)-$/.exec(ranges[0]?.range ?? '')?.[1]);
    assert.ok(from > 0 && from < layer.size, `the layer was resumed with a Range request: ${JSON.stringify(flaky.requests)}`);
    const resumed = c.find((l) => l.msg === 'resuming blob' && l.digest === layer.digest);
    assert.equal(resumed[0]?.offset, from);
    assert.ok((await s.ctr(['images', 'ls', '-q'])).includes(image));
    // The row follows containerd once the reconcile that started the task has read it back.
    await c.waitRow('web', (r) => r.phase === 'Running', 'Running on the row, the failure cleared');
  });

  it('pulls an image once for two specs; a missing image, Never, or a failed pull on recreate stay with their container', async (t) => {
    const s = scenario(t);
    const shared = `${reg.host}/busybox:v1`;
    const seen = reg.requests.length;
    reg.throttle(400_000); // long enough a pull that both specs ask while it runs
    t.after(() => reg.throttle(undefined));
    s.write('a.yaml', spec('a', shared));
    s.write('b.yaml', spec('b', shared));
    s.write('c.yaml', spec('c', `${reg.host}/busybox:gone`));
    s.write('d.yaml', spec('d', `${reg.host}/busybox:latest`, 'Never'));
    const c = await s.run();
    await waitFor(async () => (await c.status()).filter((r) => (r.name === 'a' || r.name === 'b') && r.phase === 'Pulling').length === 2, {
      what: 'a and b both Pulling',
      timeoutMs: 20_000,
      detail: () => c.tail(),
    });
    const [pa] = await Promise.all([s.waitRunning('default.a', { converge: c }), s.waitRunning('default.b', { converge: c })]);
    reg.throttle(undefined);
    const manifestGets = reg.requests.slice(seen).filter((r) => r.method === 'GET' && r.path === '/v2/busybox/manifests/v1');
    assert.equal(manifestGets.length, 1, 'one pull for both');
    assert.equal(c.find((l) => l.msg === 'pulling image' && l.image === shared).length, 1);

    const gone = await c.waitRow('c', (r) => r.phase === 'Failed', 'c Failed');
    assert.match(gone.message, /^ImageNotFound: not found: manifest busybox:gone from .*: 404 MANIFEST_UNKNOWN/);
    const never = await c.waitRow('d', (r) => r.phase === 'Failed', 'd Failed');
    assert.match(never.message, new RegExp(`^ImageNotPresent: image ${reg.host.replace(/[.]/g, '\\.')}/busybox:latest is not in containerd and imagePullPolicy is Never`));
    assert.ok(!reg.requests.slice(seen).some((r) => r.path === '/v2/busybox/manifests/latest'), 'Never asks no registry');

    // A new spec whose image cannot be pulled leaves the old container running.
    s.write('a.yaml', spec('a', `${reg.host}/busybox:gone-too`));
    const stuck = await c.waitRow('a', (r) => r.phase === 'Failed' && /ImageNotFound/.test(r.message), 'a Failed on its new image');
    assert.match(stuck.message, /manifest busybox:gone-too/);
    assert.equal((await s.get('default.a'))?.task?.pid, pa, 'the old task still runs');
  });
});
