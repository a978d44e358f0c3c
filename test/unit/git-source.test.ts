// The Git source against real git (a bare repository over file:// and over `git daemon`),
// without containerd: what each revision's snapshot holds, whole-or-nothing rejection,
// rewinds, an unreachable remote before and after the first read, the revision kept from an
// earlier run, redaction of credentials, and signed-commit verification. git runs in real
// time; the source's interval, back-off, start wait and git deadlines run on a FakeClock
// that the tests step, so no test waits one out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { FakeClock } from '../../src/clock.js';
import { createGitSource, type GitSource, type GitSourceOptions } from '../../src/sources/git.js';
import { loadFile } from '../../src/spec/load.js';
import type { Snapshot } from '../../src/spec/types.js';
import { createSigner, GitDaemon, GitRepo } from '../harness/git.js';
import { listenLocal } from '../harness/net.js';
import { containerDoc, specYaml } from '../harness/specs.js';
import { waitFor } from '../harness/wait.js';

const silent = pino({ level: 'silent' });
const keys = (s: Snapshot) => s.specs.map((d) => d.key).sort();
const byName = (s: Snapshot, name: string) => s.specs.find((d) => d.name === name);

interface Rig {
  repo: GitRepo;
  stateDir: string;
  /** Every source the rig starts runs on it. */
  clock: FakeClock;
  snapshots: Snapshot[];
  last(): Snapshot;
  source: GitSource;
  start(extra?: Partial<GitSourceOptions>): Promise<GitSource>;
}

async function rig(t: { after(fn: () => unknown): void }, defaults: Partial<GitSourceOptions> = {}): Promise<Rig> {
  const repo = await GitRepo.create();
  const stateDir = mkdtempSync(join(tmpdir(), 'converge-gitstate-'));
  const started: GitSource[] = [];
  const r: Rig = {
    repo,
    stateDir,
    clock: new FakeClock(),
    snapshots: [],
    last: () => r.snapshots[r.snapshots.length - 1],
    source: undefined as unknown as GitSource,
    async start(extra = {}) {
      const source = createGitSource({ url: repo.fileUrl, path: 'specs', stateDir, log: silent, intervalMs: 60_000, retryInitialMs: 50, clock: r.clock, ...defaults, ...extra });
      started.push(source);
      r.source = source;
      await source.start((s) => r.snapshots.push(s));
      return source;
    },
  };
  t.after(async () => {
    for (const s of started) await s.stop();
    repo.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  });
  return r;
}

test('applies revisions whole: add, change, remove; unchanged specs keep hash and origin', async (t) => {
  const r = await rig(t);
  const c1 = await r.repo.commit({
    'specs/a.yaml': specYaml('a'),
    'specs/b.yaml': specYaml('b'),
    'specs/team/c.yml': specYaml('c'),
    'specs/.hidden/x.yaml': specYaml('x'),
    'specs/README.md': '# not a spec',
    'other/d.yaml': specYaml('d'),
  });
  await r.repo.push();
  await r.start();
  const first = r.last();
  assert.equal(first.complete, true);
  assert.deepEqual(first.problems, []);
  assert.deepEqual(keys(first), ['default/a', 'default/b', 'default/c'], 'recursive under the path, hidden and non-spec files skipped');
  assert.equal(byName(first, 'a')!.origin, `git:${r.repo.fileUrl}:specs/a.yaml`);
  assert.equal(byName(first, 'c')!.revision, c1);
  assert.equal(byName(first, 'a')!.hash, loadFile('a.yaml', specYaml('a')).specs[0].hash, 'the hash is the spec hash, as for a file');
  assert.equal(r.source.status().revision, c1);
  assert.equal(r.source.status().ready, true);

  const c2 = await r.repo.commit({ 'specs/b.yaml': specYaml('b', { image: 'busybox:2' }), 'specs/team/c.yml': null, 'specs/e.json': JSON.stringify(containerDoc('e')) });
  await r.repo.push();
  assert.equal((await r.source.sync()).result, 'applied');
  const second = r.last();
  assert.deepEqual(keys(second), ['default/a', 'default/b', 'default/e']);
  assert.equal(byName(second, 'a')!.hash, byName(first, 'a')!.hash);
  assert.equal(byName(second, 'a')!.origin, byName(first, 'a')!.origin, 'the origin holds no commit');
  assert.equal(byName(second, 'a')!.revision, c2);
  assert.notEqual(byName(second, 'b')!.hash, byName(first, 'b')!.hash);

  const count = r.snapshots.length;
  assert.equal((await r.source.sync()).result, 'unchanged');
  assert.equal(r.snapshots.length, count, 'an unchanged head emits nothing');
});

test('rejects a revision with one bad spec whole, naming commit, file and field; a fix applies', async (t) => {
  const r = await rig(t);
  const good = await r.repo.commit({ 'specs/a.yaml': specYaml('a'), 'specs/b.yaml': specYaml('b') });
  await r.repo.push();
  await r.start();
  const before = r.last();

  const bad = await r.repo.commit({ 'specs/a.yaml': specYaml('a', { image: 'busybox:2' }), 'specs/new.yaml': specYaml('new'), 'specs/bad.yaml': specYaml('bad', { spec: '  restartPolicy: Sometimes\n' }) });
  await r.repo.push();
  const outcome = await r.source.sync();
  assert.equal(outcome.result, 'rejected');
  assert.equal(outcome.revision, good);
  const after = r.last();
  assert.equal(after.complete, true);
  assert.deepEqual(after.specs, before.specs, 'the last good revision, untouched: no new spec, no changed one');
  const problem = after.problems.find((p) => p.path === 'spec.restartPolicy');
  assert.ok(problem, JSON.stringify(after.problems));
  assert.equal(problem.file, `${r.repo.fileUrl}:specs/bad.yaml`);
  assert.equal(problem.line, 7);
  assert.match(problem.message, new RegExp(`must be one of Always, OnFailure, Never \\(commit ${bad.slice(0, 12)}\\)`));
  const status = r.source.status();
  assert.equal(status.error?.code, 'GIT_REVISION_REJECTED');
  assert.equal(status.rejected?.revision, bad);
  assert.equal(status.revision, good);
  assert.match(status.rejected!.problems[0], /specs\/bad\.yaml: document 0 \(line 7\): spec\.restartPolicy: must be one of/);
  assert.equal((await r.source.sync()).result, 'rejected', 'the same head stays rejected');

  const dup = await r.repo.commit({ 'specs/bad.yaml': specYaml('b') });
  await r.repo.push();
  assert.equal((await r.source.sync()).result, 'rejected', 'a name declared in two files rejects the revision');
  assert.ok(r.last().problems.some((p) => p.path === 'metadata.name' && p.message.includes(`is also declared in ${r.repo.fileUrl}:specs/b.yaml (commit ${dup.slice(0, 12)})`)), JSON.stringify(r.last().problems));

  const fixed = await r.repo.commit({ 'specs/bad.yaml': null });
  await r.repo.push();
  assert.equal((await r.source.sync()).result, 'applied');
  assert.deepEqual(r.last().problems, []);
  assert.deepEqual(keys(r.last()), ['default/a', 'default/b', 'default/new']);
  assert.equal(r.source.status().error, null);
  assert.equal(r.source.status().revision, fixed);
});

test('a revision with a spec file that is not UTF-8 is rejected, naming the file and line', async (t) => {
  const r = await rig(t);
  const good = await r.repo.commit({ 'specs/a.yaml': specYaml('a') });
  await r.repo.push();
  await r.start();
  // Latin-1 'é' (0xe9) where UTF-8 is expected: decoded leniently it would become U+FFFD.
  const latin1 = Buffer.concat([Buffer.from(specYaml('b')), Buffer.from('  # caf'), Buffer.from([0xe9]), Buffer.from('\n')]);
  await r.repo.commit({ 'specs/b.yaml': latin1 });
  await r.repo.push();
  const outcome = await r.source.sync();
  assert.equal(outcome.result, 'rejected');
  assert.equal(outcome.revision, good);
  const problem = r.last().problems.find((p) => p.file === `${r.repo.fileUrl}:specs/b.yaml`);
  assert.ok(problem, JSON.stringify(r.last().problems));
  assert.match(problem.message, /not valid UTF-8/);
  assert.equal(typeof problem.line, 'number');
});

test('follows the branch head through a force-push rewind, and back to a good revision', async (t) => {
  const r = await rig(t);
  const c1 = await r.repo.commit({ 'specs/a.yaml': specYaml('a') });
  await r.repo.push();
  await r.start();
  await r.repo.commit({ 'specs/b.yaml': specYaml('b') });
  await r.repo.push();
  await r.source.sync();
  assert.deepEqual(keys(r.last()), ['default/a', 'default/b']);
  await r.repo.reset(c1);
  await r.repo.push({ force: true });
  assert.equal((await r.source.sync()).result, 'applied');
  assert.deepEqual(keys(r.last()), ['default/a']);
  assert.equal(r.source.status().revision, c1);

  // A bad head rewound to the applied good one: the rejection goes away, nothing changes.
  await r.repo.commit({ 'specs/a.yaml': 'apiVersion: [' });
  await r.repo.push();
  assert.equal((await r.source.sync()).result, 'rejected');
  await r.repo.reset(c1);
  await r.repo.push({ force: true });
  assert.equal((await r.source.sync()).result, 'unchanged');
  assert.deepEqual(r.last().problems, []);
  assert.equal(r.source.status().error, null);
});

test('a missing path is a rejection; before any good revision the source is not complete', async (t) => {
  const r = await rig(t);
  await r.repo.commit({ 'elsewhere/a.yaml': specYaml('a') });
  await r.repo.push();
  await r.start();
  const s = r.last();
  assert.equal(s.complete, false, 'never read a good revision: unknown, not empty');
  assert.deepEqual(s.specs, []);
  assert.match(s.problems[0].message, /the spec path does not exist in this commit/);
  assert.equal(r.source.status().ready, false);
  await r.repo.commit({ 'specs/a.yaml': specYaml('a') });
  await r.repo.push();
  await r.source.sync();
  assert.equal(r.last().complete, true);
});

test('an unreachable remote: not complete before the first read, retried on the back-off, then read and fetched every interval', async (t) => {
  const r = await rig(t);
  const missing = join(r.repo.root, 'later.git');
  const source = await r.start({ url: `file://${missing}`, retryInitialMs: 40, intervalMs: 400 });
  assert.equal(r.last().complete, false);
  assert.equal(source.status().error?.code, 'GIT_FETCH_FAILED');
  assert.match(source.status().error!.message, /cannot fetch main: git fetch: fatal: .*later\.git/);
  /** Waits for the fetch after `failures` failures in a row to be scheduled; returns its delay. */
  const scheduled = async (failures: number): Promise<number> => {
    const status = await waitFor(() => {
      const s = source.status();
      return s.consecutiveFailures === failures && s.nextSyncAt !== null ? s : undefined;
    }, { what: `the fetch after ${failures} failure(s) to be scheduled`, timeoutMs: 10_000, intervalMs: 5 });
    return Date.parse(status.nextSyncAt!) - r.clock.now();
  };
  // The back-off doubles from retryInitialMs up to the interval, without a sync asked for.
  const delays: number[] = [];
  for (let failures = 1; failures <= 5; failures++) {
    delays.push(await scheduled(failures));
    if (failures < 5) r.clock.advance(delays[delays.length - 1]);
  }
  assert.deepEqual(delays, [40, 80, 160, 320, 400]);

  // The repository appears: the next retry reads it.
  await r.repo.commit({ 'specs/a.yaml': specYaml('a') });
  await r.repo.push();
  await r.repo.git(['clone', '--quiet', '--bare', r.repo.bare, missing]);
  r.clock.advance(400);
  await waitFor(() => r.last().complete, { what: 'a complete snapshot', timeoutMs: 10_000 });
  assert.deepEqual(keys(r.last()), ['default/a']);
  assert.equal(source.status().error, null);
  assert.equal(await scheduled(0), 400, 'back to the interval');

  // A push is fetched when the interval has passed, without a sync asked for.
  await r.repo.commit({ 'specs/b.yaml': specYaml('b') });
  await r.repo.git(['push', '--quiet', missing, 'main:main']);
  // A fetch that starts clears nextSyncAt at once, so these say exactly when it started.
  r.clock.advance(399);
  assert.notEqual(source.status().nextSyncAt, null, 'fetched before the interval had passed');
  r.clock.advance(1);
  assert.equal(source.status().nextSyncAt, null, 'not fetched when the interval had passed');
  await waitFor(() => keys(r.last()).includes('default/b'), { what: 'the pushed revision', timeoutMs: 10_000 });
  assert.deepEqual(keys(r.last()), ['default/a', 'default/b']);
});

test('a remote that never answers: start() does not wait for it, the fetch times out, git is killed', async (t) => {
  const r = await rig(t);
  const sockets: Socket[] = [];
  const closed = new Set<Socket>();
  const silentServer = createServer((socket) => {
    sockets.push(socket); // accepts, reads, never answers
    socket.on('close', () => closed.add(socket)).resume();
  });
  const port = await listenLocal(silentServer);
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((ok) => silentServer.close(() => ok()));
  });
  let returned = false;
  const starting = r.start({ url: `git://127.0.0.1:${port}/repo.git`, startWaitMs: 200, fetchTimeoutMs: 1_500 }).finally(() => (returned = true));
  await waitFor(() => sockets.length === 1, { what: 'git to connect', timeoutMs: 10_000 });
  r.clock.advance(199);
  await new Promise((ok) => setImmediate(ok));
  assert.equal(returned, false, 'start() returned before startWaitMs');
  r.clock.advance(1);
  const source = await starting;
  assert.equal(r.last().complete, false);

  // A sync asked for now waits for the hung fetch, then makes its own: both hit the deadline.
  const outcome = source.sync();
  r.clock.advance(1_300); // the first fetch began with start(), 1500 ms ago now
  await waitFor(() => sockets.length === 2, { what: 'the second fetch to connect', timeoutMs: 10_000 });
  r.clock.advance(1_500);
  const result = await outcome;
  assert.equal(result.result, 'failed');
  assert.match(result.error!, /no answer within 1500 ms/);
  assert.equal(source.status().error?.code, 'GIT_FETCH_FAILED');
  await waitFor(() => sockets.every((s) => closed.has(s)), { what: 'the killed git to have closed its connections', timeoutMs: 10_000 });
});

test('over git daemon: stopped keeps the last good revision; a restart of converge keeps it too', async (t) => {
  const r = await rig(t);
  const daemon = await GitDaemon.start(r.repo.served.base);
  t.after(() => daemon.cleanup());
  const url = daemon.url(r.repo.served.name);
  const c1 = await r.repo.commit({ 'specs/a.yaml': specYaml('a'), 'specs/b.yaml': specYaml('b') });
  await r.repo.push();
  const first = await r.start({ url });
  assert.equal(r.last().complete, true);
  assert.equal(byName(r.last(), 'a')!.origin, `git:${url}:specs/a.yaml`);

  await daemon.stop();
  await r.repo.commit({ 'specs/c.yaml': specYaml('c') });
  await r.repo.push();
  const failed = await first.sync();
  assert.equal(failed.result, 'failed');
  assert.match(failed.error!, /cannot fetch main/);
  assert.deepEqual(keys(r.last()), ['default/a', 'default/b'], 'the last good revision stays');
  assert.equal(r.last().complete, true, 'it was read whole once');
  assert.ok(r.last().problems.some((p) => p.file === url && /cannot fetch main: .*keeping revision/.test(p.message)), JSON.stringify(r.last().problems));
  await first.stop();

  // converge restarts while the daemon is down: the earlier run's revision is known, not complete.
  r.snapshots.length = 0;
  const second = await r.start({ url });
  assert.equal(r.last().complete, false);
  assert.deepEqual(keys(r.last()), ['default/a', 'default/b']);
  assert.equal(byName(r.last(), 'a')!.revision, c1);

  await daemon.start();
  assert.equal((await second.sync()).result, 'applied');
  assert.equal(r.last().complete, true);
  assert.deepEqual(keys(r.last()), ['default/a', 'default/b', 'default/c']);
});

test('credentials in the URL appear nowhere: logs, problems, status', async (t) => {
  const r = await rig(t);
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  const log = pino({ level: 'debug' }, sink);
  const daemon = await GitDaemon.start(r.repo.served.base);
  await daemon.stop(); // a port that refuses connections
  t.after(() => daemon.cleanup());
  const url = `http://deploy:hunter2secret@127.0.0.1:${daemon.port}/repo.git?access_token=tok3nvalue`;
  const source = await r.start({ url, log });
  await source.sync();
  const shown = JSON.stringify([lines, r.snapshots, source.status()]);
  assert.ok(source.status().error, 'the fetch failed');
  assert.equal(source.status().url, `http://***@127.0.0.1:${daemon.port}/repo.git?***`);
  for (const secret of ['hunter2secret', 'tok3nvalue', 'deploy:']) assert.ok(!shown.includes(secret), `${secret} leaked: ${shown}`);
});

test('--git-verify-commits: applies only head commits signed by a key in the keyring', async (t) => {
  const r = await rig(t);
  const trusted = await createSigner(r.repo.root, 'Trusted');
  const other = await createSigner(r.repo.root, 'Other');
  t.after(() => Promise.all([trusted.cleanup(), other.cleanup()]));
  const signed = await r.repo.commit({ 'specs/a.yaml': specYaml('a') }, { signer: trusted });
  await r.repo.push();
  const source = await r.start({ verifyKeyring: trusted.keyring });
  assert.equal(source.status().revision, signed);

  await r.repo.commit({ 'specs/b.yaml': specYaml('b') });
  await r.repo.push();
  assert.equal((await source.sync()).result, 'rejected');
  assert.match(r.last().problems[0].message, /is not accepted by --git-verify-commits: the commit is not signed/);

  await r.repo.commit({ 'specs/c.yaml': specYaml('c') }, { signer: other });
  await r.repo.push();
  assert.equal((await source.sync()).result, 'rejected');
  assert.match(r.last().problems[0].message, /signed by a key that is not in the keyring/);
  assert.deepEqual(keys(r.last()), ['default/a']);

  const ok = await r.repo.commit({ 'specs/d.yaml': specYaml('d') }, { signer: trusted });
  await r.repo.push();
  assert.equal((await source.sync()).result, 'applied');
  assert.equal(source.status().revision, ok);
  assert.deepEqual(keys(r.last()), ['default/a', 'default/b', 'default/c', 'default/d']);
});

test('follows() matches the followed ref as webhooks name it; concurrent syncs coalesce', async (t) => {
  const r = await rig(t);
  await r.repo.commit({ 'specs/a.yaml': specYaml('a') });
  await r.repo.push();
  const source = await r.start();
  assert.equal(source.follows('refs/heads/main'), true);
  assert.equal(source.follows('refs/heads/main2'), false);
  assert.equal(source.follows('refs/tags/v1'), false);
  const results = await Promise.all([source.sync(), source.sync(), source.sync()]);
  assert.deepEqual(results.map((o) => o.result), ['unchanged', 'unchanged', 'unchanged']);
  const tagged = createGitSource({ url: r.repo.fileUrl, ref: 'refs/tags/v1', stateDir: r.stateDir, log: silent });
  assert.equal(tagged.follows('refs/tags/v1'), true);
  assert.equal(tagged.follows('refs/heads/v1'), false);
});
