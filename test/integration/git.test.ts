// End to end, the Git source: converge run --git as a user runs it, against a bare repository
// served by a real `git daemon` on 127.0.0.1 (and over file://), and a real containerd.
// Commits add, change and remove specs; a revision with one bad spec is rejected whole and
// touches nothing; a force-push rewinds; the daemon goes away and comes back; webhooks with a
// good, a bad and no signature; credentials never shown; and the time from `git push` to a
// running task, with the webhook and with the interval alone.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dump } from 'js-yaml';
import { signBody } from '../../src/publish/webhook.js';
import type { GitSourceStatus } from '../../src/sources/git.js';
import type { ContainerSpec } from '../../src/spec/types.js';
import { GitDaemon, GitRepo } from '../harness/git.js';
import { cli, container, Env, holds, sleeper, timeOf, waitFor, type Converge, type Scenario } from './util.js';

const SECRET = 'webhook-secret-for-tests';
const yaml = (doc: ContainerSpec) => dump(doc);

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

/** POSTs a push webhook for `ref` to converge's sync endpoint, signed as GitHub does (or not). */
async function webhook(c: Converge, opts: { sign?: 'good' | 'bad' | 'none'; wait?: boolean; gitea?: boolean } = {}) {
  const body = JSON.stringify({ ref: 'refs/heads/main' });
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': 'push' };
  const sig = opts.sign === 'bad' ? signBody(body, 'not the secret') : signBody(body, SECRET);
  if (opts.sign !== 'none') {
    if (opts.gitea) headers['x-gitea-signature'] = sig;
    else headers['x-hub-signature-256'] = `sha256=${sig}`;
  }
  const res = await fetch(`http://${c.listen}/v1/git/sync${opts.wait ? '?wait=1' : ''}`, { method: 'POST', body, headers, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: (await res.json()) as { result?: string; error?: string; revision?: string } };
}

async function gitStatus(c: Converge): Promise<GitSourceStatus> {
  const res = await c.http('/v1/sources');
  const git = (JSON.parse(res.body) as GitSourceStatus[]).find((s) => s.kind === 'git');
  assert.ok(git, res.body);
  return git;
}

async function pids(s: Scenario, ids: string[]): Promise<Record<string, number | undefined>> {
  const out: Record<string, number | undefined> = {};
  for (const id of ids) out[id] = (await s.get(id))?.task?.pid;
  return out;
}

describe('converge run --git', () => {
  it('follows a branch over git daemon: add, change, remove, a rejected revision, a rewind, the daemon away', async (t) => {
    const s = await env.scenario(t, 'git');
    const repo = await GitRepo.create(path.join(s.dir, 'git'));
    const daemon = await GitDaemon.start(repo.served.base);
    t.after(() => daemon.cleanup());
    const url = daemon.url(repo.served.name);
    const c1 = await repo.commit({ 'specs/a.yaml': yaml(container('a', sleeper('v1'))), 'specs/b.yaml': yaml(container('b', sleeper())), 'README.md': '# fleet\n' });
    await repo.push();
    const c = await s.run(['--git', url, '--git-path', 'specs', '--git-interval', '5m', '--git-webhook-secret', SECRET], []);
    const a1 = await s.waitRunning('default.a', { converge: c });
    const b1 = await s.waitRunning('default.b', { converge: c });
    await c.waitReady();
    const row = await c.waitRow('a', (r) => r.revision === c1, `revision ${c1}`);
    assert.equal(row.source, `git:${url}:specs/a.yaml`);
    assert.equal((await s.get('default.a'))!.labels['converge.dev/source'], `git:${url}:specs/a.yaml`);
    assert.equal((await gitStatus(c)).revision, c1);

    // Webhooks: no signature and a wrong one are refused and fetch nothing.
    const c2 = await repo.commit({ 'specs/c.yaml': yaml(container('c', sleeper())) });
    await repo.push();
    assert.equal((await webhook(c, { sign: 'none' })).status, 401);
    assert.equal((await webhook(c, { sign: 'bad' })).status, 403);
    assert.equal((await webhook(c, { sign: 'bad', gitea: true })).status, 403);
    assert.equal((await gitStatus(c)).fetchedRevision, c1, 'a refused webhook fetched nothing');
    // A good one (Gitea style) applies the pushed commit.
    assert.equal((await webhook(c, { gitea: true })).status, 202);
    await s.waitRunning('default.c', { converge: c });
    await c.waitRow('a', (r) => r.revision === c2, `revision ${c2}`);

    // push -> running, with the webhook, a few times.
    const webhookMs: string[] = [];
    for (const name of ['w1', 'w2', 'w3']) {
      const t0 = Date.now();
      const commit = await repo.commit({ [`specs/${name}.yaml`]: yaml(container(name, sleeper())) });
      await repo.push();
      assert.equal((await webhook(c)).status, 202);
      await s.waitRunning(`default.${name}`, { converge: c });
      const applied = await c.waitLog((l) => l.msg === 'git revision applied' && l.revision === commit, `revision ${commit} applied`);
      webhookMs.push(`${Date.now() - t0} (applied at +${timeOf(applied) - t0})`);
    }
    t.diagnostic(`git commit+push -> task running, with the webhook: ${webhookMs.join(', ')} ms`);

    // Change b, remove c: only those two are touched.
    let since = c.lines.length;
    await repo.commit({ 'specs/b.yaml': yaml(container('b', sleeper('v2'))), 'specs/c.yaml': null });
    await repo.push();
    assert.equal((await webhook(c, { wait: true })).body.result, 'applied');
    const b2 = await s.waitRunning('default.b', { converge: c, notPid: b1 });
    await s.waitGone('default.c');
    assert.equal((await s.get('default.a'))?.task?.pid, a1, 'a is unchanged: not restarted');
    assert.deepEqual(c.actions(undefined, since).map((l) => `${l.action} ${l.key}`).sort(), ['recreate default/b', 'remove default/c']);
    const good = await repo.head();

    // One bad spec among good changes: the whole revision is rejected, nothing is touched.
    since = c.lines.length;
    const before = await pids(s, ['default.a', 'default.b', 'default.w1']);
    const bad = await repo.commit({
      'specs/a.yaml': yaml(container('a', sleeper('v3'))),
      'specs/d.yaml': yaml(container('d', sleeper())),
      'specs/e.yaml': yaml(container('e', { ...sleeper(), restartPolicy: 'Sometimes' as never })),
      'specs/w1.yaml': yaml(container('w1', { ...sleeper(), imagePullPolicy: 'Sometimes' as never })),
    });
    await repo.push();
    const rejected = await webhook(c, { wait: true });
    assert.equal(rejected.body.result, 'rejected');
    assert.match(rejected.body.error!, new RegExp(`${url}:specs/e\\.yaml: document 0 \\(line \\d+\\): spec\\.restartPolicy: must be one of Always, OnFailure, Never \\(commit ${bad.slice(0, 12)}\\)`));
    const status = await gitStatus(c);
    assert.equal(status.error?.code, 'GIT_REVISION_REJECTED');
    assert.equal(status.rejected?.revision, bad);
    assert.equal(status.revision, good, 'the last good revision stays applied');
    await holds(async () => {
      assert.deepEqual(await pids(s, ['default.a', 'default.b', 'default.w1']), before);
      assert.equal(await s.get('default.d'), undefined);
    }, 1_500);
    assert.deepEqual(c.actions(undefined, since), [], 'no action at all for a rejected revision');
    const w1 = await c.row('w1');
    assert.match(w1!.message, new RegExp(`running its last good version: ${url}:specs/w1\\.yaml: .*spec\\.imagePullPolicy: must be one of`));
    assert.equal(w1!.phase, 'Running');
    const table = await cli(['status', '--state-dir', s.stateDir]);
    assert.match(table.stdout, /^NAMESPACE\s+NAME\s+PHASE\s+RESTARTS\s+AGE\s+EXIT\s+REVISION\s+MESSAGE$/m);
    assert.match(table.stdout, new RegExp(`\\ndefault\\s+a\\s+Running\\s+0\\s+\\d+s\\s+-\\s+${good.slice(0, 12)}\\n`));
    assert.match(table.stdout, new RegExp(`SOURCE git:${url} ref main path specs\\n  revision ${good}, last sync \\d+s ago\\n  error GIT_REVISION_REJECTED: revision ${bad} rejected: .*specs/e\\.yaml`));

    // Rewind by force-push to before the bad commit and one further: b's change is undone.
    await repo.reset(`${good}~1`);
    await repo.push({ force: true });
    assert.equal((await webhook(c, { wait: true })).body.result, 'applied');
    await s.waitRunning('default.b', { converge: c, notPid: b2 });
    await s.waitRunning('default.c', { converge: c });
    assert.equal((await gitStatus(c)).error, null);
    assert.equal((await s.get('default.a'))?.task?.pid, a1, 'a was never touched');
    assert.equal(await s.get('default.d'), undefined);

    // The daemon goes away: containers keep running, the error shows; it comes back: applied.
    await daemon.stop();
    const running = await pids(s, ['default.a', 'default.b', 'default.c']);
    const failed = await webhook(c, { wait: true });
    assert.equal(failed.body.result, 'failed');
    const down = await gitStatus(c);
    assert.equal(down.error?.code, 'GIT_FETCH_FAILED');
    assert.match(down.error!.message, /cannot fetch main: git fetch: fatal: unable to connect to 127\.0\.0\.1/);
    assert.ok(down.consecutiveFailures >= 1);
    await holds(async () => assert.deepEqual(await pids(s, ['default.a', 'default.b', 'default.c']), running), 1_000);
    assert.equal((await c.http('/readyz')).status, 200);
    await repo.commit({ 'specs/f.yaml': yaml(container('f', sleeper())) });
    await repo.push(); // to the bare repository directly; the daemon is still down
    await daemon.start();
    assert.equal((await webhook(c, { wait: true })).body.result, 'applied');
    await s.waitRunning('default.f', { converge: c });
    assert.equal((await gitStatus(c)).error, null);
    assert.deepEqual(await pids(s, ['default.a', 'default.b', 'default.c']), running);
  });

  it('follows over file:// on the interval alone', async (t) => {
    const s = await env.scenario(t, 'gitint');
    const repo = await GitRepo.create(path.join(s.dir, 'git'));
    await repo.commit({ 'a.yaml': yaml(container('a', sleeper())) });
    await repo.push();
    const c = await s.run(['--git', repo.fileUrl, '--git-interval', '2s'], []);
    await s.waitRunning('default.a', { converge: c });
    const intervalMs: string[] = [];
    for (const name of ['i1', 'i2', 'i3']) {
      const t0 = Date.now();
      const commit = await repo.commit({ [`${name}.yaml`]: yaml(container(name, sleeper())) });
      await repo.push();
      await s.waitRunning(`default.${name}`, { converge: c, timeoutMs: 10_000 });
      const applied = await c.waitLog((l) => l.msg === 'git revision applied' && l.revision === commit, `revision ${commit} applied`);
      intervalMs.push(`${Date.now() - t0} (applied at +${timeOf(applied) - t0})`);
    }
    t.diagnostic(`git commit+push -> task running, interval 2s only: ${intervalMs.join(', ')} ms`);
    const status = await gitStatus(c);
    assert.equal(status.path, '.');
    assert.equal(status.revision, await repo.head());
    assert.ok(Date.parse(status.nextSyncAt!) > Date.now() - 100, 'the next fetch is scheduled');
  });

  it('removes nothing before the repository has been read once, and never shows its credentials', async (t) => {
    const s = await env.scenario(t, 'gitcred');
    // A container converge made earlier from a directory spec that is gone now.
    s.write('old.yaml', container('old', sleeper()));
    const first = await s.run();
    const oldPid = await s.waitRunning('default.old', { converge: first });
    await first.stop();
    s.remove('old.yaml');
    s.write('web.yaml', container('web', sleeper()));

    const daemon = await GitDaemon.start(s.dir);
    await daemon.stop(); // its port now refuses connections
    t.after(() => daemon.cleanup());
    const url = `http://deploy:hunter2-password@127.0.0.1:${daemon.port}/fleet.git`;
    const c = await s.run(['--git', url, '--resync', '1s'], [s.specDir]);
    await s.waitRunning('default.web', { converge: c });
    const git = await waitFor(async () => {
      const g = await gitStatus(c);
      return g.error ? g : undefined;
    }, { what: 'the git source to report its error' });
    assert.equal(git.ready, false);
    assert.equal(git.url, `http://***@127.0.0.1:${daemon.port}/fleet.git`);
    assert.match(git.error!.message, /cannot fetch main/);
    const row = await c.waitRow('old', (r) => r.phase === 'Orphaned', 'Orphaned');
    assert.equal(row.message, 'kept until every source has been read');
    await holds(async () => assert.equal((await s.get('default.old'))?.task?.pid, oldPid), 1_000);
    assert.equal((await c.http('/readyz')).status, 503);

    const shown = JSON.stringify([c.lines, c.raw, await c.status(), await c.http('/v1/sources'), (await cli(['status', '--state-dir', s.stateDir])).stdout]);
    assert.ok(!shown.includes('hunter2-password') && !shown.includes('deploy:'), 'the password appears nowhere');
    assert.ok(shown.includes('http://***@127.0.0.1'), 'the redacted URL does');
  });
});
