// End to end, converge as a user runs it against a real containerd: spec files dropped,
// edited, rewritten, broken, duplicated and deleted, and what containerd holds after each.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LABEL_MANAGED, LABEL_RESTARTS, LABEL_SOURCE, LABEL_SPEC_HASH } from '../../src/containerd/labels.js';
import { cli, container, MAIN, Env, holds, sh, sleeper, timeOf, waitFor, type LogLine } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');

/** The command line of `pid` once it matches: a task is "running" a moment before runc init execs it. */
const waitCmdline = (pid: number, re: RegExp) =>
  waitFor(() => re.test(cmdline(pid)), { what: `pid ${pid} to run ${re}`, timeoutMs: 5_000, detail: () => cmdline(pid) });
const mentions = (l: LogLine, ...parts: string[]) => parts.every((p) => JSON.stringify(l).includes(p));

describe('converge run: lifecycle of spec files', () => {
  it('runs a dropped file (and times write -> running)', async (t) => {
    const s = await env.scenario(t, 'drop');
    const c = await s.run();
    await c.waitReady();
    const t0 = Date.now();
    const file = s.write('web.yaml', container('web', sleeper('hello from web'), { labels: { tier: 'front' } }));
    const pid = await s.waitRunning('default.web', { converge: c });
    const ms = Date.now() - t0;
    const done = await c.waitLog((l) => l.msg === 'action done' && l.key === 'default/web', 'create done');
    t.diagnostic(`file drop -> running: ${ms} ms (converge's own "action done" at +${timeOf(done) - t0} ms)`);

    assert.equal(done.pid, pid);
    await waitCmdline(pid, /sleep 3600/);
    const actual = await s.get('default.web');
    assert.equal(actual?.labels[LABEL_MANAGED], 'true');
    assert.equal(actual?.labels[LABEL_SOURCE], `dir:${file}`);
    assert.match(actual?.labels[LABEL_SPEC_HASH] ?? '', /^[0-9a-f]{64}$/);
    assert.equal(actual?.labels[LABEL_RESTARTS], '0');
    assert.equal(actual?.labels.tier, 'front');
    assert.deepEqual(await s.containerIds(), ['default.web']);
    assert.deepEqual(await s.snapshotKeys(), ['default.web']);
    assert.deepEqual(await s.tasks(), [{ id: 'default.web', pid, status: 'running' }]);

    const row = await c.waitRow('web', (r) => r.phase === 'Running', 'Running');
    assert.equal(row.pid, pid);
    assert.equal(row.restarts, 0);
    assert.equal(row.image, 'localhost/busybox:latest');
    assert.equal(row.source, `dir:${file}`);
    assert.deepEqual(c.actions().map((l) => [l.key, l.action, l.reason]), [['default/web', 'create', 'missing']]);
    await waitFor(() => s.logOf('default.web').includes('hello from web'), { what: 'the container output in its log file' });
  });

  it('recreates on an edit, restarts nothing on a rewrite with the same content', async (t) => {
    const s = await env.scenario(t, 'edit');
    const c = await s.run(['--log-level', 'debug']);
    s.write('web.yaml', container('web', sleeper('v1')));
    const pid1 = await s.waitRunning('default.web', { converge: c });
    const before1 = await s.get('default.web');
    await c.waitRow('web', (r) => r.phase === 'Running', 'Running');

    // Same content: written again in place, saved by rename, touched. Each time converge
    // reads the file (a debug line says so) and leaves the container alone.
    const file = path.join(s.specDir, 'web.yaml');
    const sameText = readFileSync(file, 'utf8');
    const rewrites: Array<[string, () => void]> = [
      ['in-place write', () => s.write('web.yaml', sameText, { inPlace: true })],
      ['save by rename', () => s.write('web.yaml', sameText)],
      ['touch', () => utimesSync(file, new Date(), new Date(Date.now() + 5_000))],
    ];
    for (const [how, rewrite] of rewrites) {
      const since = c.lines.length;
      rewrite();
      await c.waitLog((l) => l.msg === 'spec file read' && l.file === file, `${how} read`, { since });
      await holds(async () => {
        assert.equal((await s.get('default.web'))?.task?.pid, pid1, `${how}: same pid`);
      }, 500);
      assert.deepEqual(c.actions(undefined, since), [], `${how}: no action`);
    }

    // An edit of the args: a new container (created anew) with a new task.
    const since = c.lines.length;
    s.write('web.yaml', container('web', sh('echo v2; trap "exit 0" TERM; sleep 3601 & wait')));
    const pid2 = await s.waitRunning('default.web', { notPid: pid1, converge: c });
    const after2 = await s.get('default.web');
    assert.notEqual(after2?.specHash, before1?.specHash);
    assert.ok(after2?.createdAt && before1?.createdAt && after2.createdAt > before1.createdAt, 'the container was created anew');
    await waitCmdline(pid2, /sleep 3601/);
    assert.equal(alive(pid1), false, 'the old task is gone');
    assert.deepEqual(c.actions(undefined, since).map((l) => [l.key, l.action, l.reason]), [['default/web', 'recreate', 'spec changed']]);
    assert.deepEqual(await s.tasks(), [{ id: 'default.web', pid: pid2, status: 'running' }]);
    await waitFor(() => /v1\n[^]*v2\n/.test(s.logOf('default.web')), { what: 'both versions in the log file' });
  });

  it('removes container, task and snapshot when the file is deleted', async (t) => {
    const s = await env.scenario(t, 'del');
    const c = await s.run();
    s.write('web.yaml', container('web', { ...sleeper(), terminationGracePeriodSeconds: 2 }));
    s.write('keep.yaml', container('keep', sleeper()));
    const pid = await s.waitRunning('default.web', { converge: c });
    const keepPid = await s.waitRunning('default.keep', { converge: c });
    assert.deepEqual(await s.inContainerd('default.web'), {
      container: true,
      task: { id: 'default.web', pid, status: 'running' },
      snapshot: true,
    });
    const since = c.lines.length;
    s.remove('web.yaml');
    await s.waitGone('default.web');
    assert.equal(alive(pid), false);
    assert.deepEqual(c.actions(undefined, since).map((l) => [l.key, l.action, l.reason]), [['default/web', 'remove', 'no longer desired']]);
    await waitFor(async () => (await c.row('web')) === undefined, { what: 'the web row to leave /v1/status' });
    assert.deepEqual(await s.containerIds(), ['default.keep']);
    assert.deepEqual(await s.snapshotKeys(), ['default.keep']);
    assert.deepEqual(await s.tasks(), [{ id: 'default.keep', pid: keepPid, status: 'running' }]);
  });

  it('runs every document of a multi-document file, and drops one removed from it', async (t) => {
    const s = await env.scenario(t, 'multi');
    const c = await s.run();
    const docs = [
      container('one', sleeper()),
      container('two', sleeper()),
      container('three', sleeper(), { namespace: 'other' }),
    ];
    s.write('all.yaml', docs);
    const pids = await Promise.all(['default.one', 'default.two', 'other.three'].map((id) => s.waitRunning(id, { converge: c })));
    assert.deepEqual(await s.containerIds(), ['default.one', 'default.two', 'other.three']);
    const three = await c.waitRow('three', (r) => r.phase === 'Running', 'Running', 20_000, 'other');
    assert.equal(three.pid, pids[2]);

    s.write('all.yaml', [docs[0], docs[2]]);
    await s.waitGone('default.two');
    assert.deepEqual(await s.tasks(), [
      { id: 'default.one', pid: pids[0], status: 'running' },
      { id: 'other.three', pid: pids[2], status: 'running' },
    ]);
  });

  it('keeps the running container when an edit cannot be built (unknown user)', async (t) => {
    const s = await env.scenario(t, 'unbuildable');
    const c = await s.run();
    s.write('web.yaml', container('web', sleeper('v1')));
    const pid = await s.waitRunning('default.web', { converge: c });
    s.write('web.yaml', container('web', { ...sleeper('v2'), user: 'nosuchuser' }));
    const row = await c.waitRow('web', (r) => r.phase === 'Failed', 'Failed');
    assert.match(row.message, /nosuchuser/);
    assert.equal((await s.get('default.web'))?.task?.pid, pid, 'the old task still runs');
    assert.deepEqual(await s.tasks(), [{ id: 'default.web', pid, status: 'running' }]);
  });

  it('keeps good containers when a file breaks, reports where, and applies the fix', async (t) => {
    const s = await env.scenario(t, 'bad');
    const c = await s.run(['--resync', '500ms']);
    const webFile = s.write('web.yaml', container('web', sleeper('good-v1')));
    s.write('db.yaml', container('db', sleeper()));
    const webPid = await s.waitRunning('default.web', { converge: c });
    const dbPid = await s.waitRunning('default.db', { converge: c });

    // A new file that never was good: reported with file and field; the others run on.
    let since = c.lines.length;
    const badFile = s.write('new.yaml', container('new', { ...sleeper(), restartPolicy: 'Sometimes' as never }));
    const report = await c.waitLog((l) => mentions(l, badFile), 'a problem report naming new.yaml', { since });
    assert.ok(mentions(report, 'spec.restartPolicy'), `the report names the field: ${JSON.stringify(report)}`);
    assert.equal(await s.get('default.new'), undefined, 'nothing is made of a bad file');

    // The good web.yaml breaks (an unknown field): the container keeps running as it was.
    since = c.lines.length;
    s.write('web.yaml', container('web', { ...sleeper('good-v2'), imagePullPolcy: 'Always' } as never));
    const broke = await c.waitLog((l) => mentions(l, webFile), 'a problem report naming web.yaml', { since });
    assert.ok(mentions(broke, 'imagePullPolcy'), `the report names the field: ${JSON.stringify(broke)}`);
    const row = await c.waitRow('web', (r) => /error/i.test(r.message), 'status says its file has errors');
    assert.ok(row.message.includes(webFile) && row.message.includes('imagePullPolcy'), `status names file and field: ${row.message}`);
    assert.equal(row.phase, 'Running');
    assert.equal(row.pid, webPid);
    await holds(async () => {
      assert.equal((await s.get('default.web'))?.task?.pid, webPid);
      assert.equal((await s.get('default.db'))?.task?.pid, dbPid);
    }, 1_500); // three resyncs
    assert.deepEqual(c.actions(undefined, since), []);

    // Fixed (with a new spec): applied.
    s.write('web.yaml', container('web', sleeper('good-v3')));
    const fixedPid = await s.waitRunning('default.web', { notPid: webPid, converge: c });
    await waitFor(() => s.logOf('default.web').includes('good-v3'), { what: 'the fixed spec running' });
    assert.equal(s.logOf('default.web').includes('good-v2'), false, 'the broken version never ran');
    await c.waitRow('web', (r) => r.message === '' && r.pid === fixedPid, 'message cleared');
    assert.equal((await s.get('default.db'))?.task?.pid, dbPid);
  });

  it('gives a name declared in two files to the first, without flapping, and reports it', async (t) => {
    const s = await env.scenario(t, 'dup');
    const c = await s.run(['--resync', '1s']);
    const first = s.write('web.yaml', container('web', sleeper('from-first')));
    const pid = await s.waitRunning('default.web', { converge: c });
    const hash = (await s.get('default.web'))?.specHash;

    // The second declarer sorts before the first: arrival, not file order, decides.
    const since = c.lines.length;
    const second = s.write('0-web.yaml', container('web', sleeper('from-second')));
    const row = await c.waitRow('web', (r) => r.message.includes(second), 'the conflict reported in its status');
    assert.match(row.message, /conflict/);
    assert.ok(row.message.includes(first), `the report names the holder: ${row.message}`);
    assert.equal(row.pid, pid);
    await holds(async () => {
      const a = await s.get('default.web');
      assert.equal(a?.task?.pid, pid);
      assert.equal(a?.specHash, hash);
    }, 3_500); // three resyncs at least
    assert.deepEqual(c.actions('default/web', since), []);
    assert.equal(s.logOf('default.web').includes('from-second'), false);

    // The holder lets go: the other declarer gets the name.
    s.remove('web.yaml');
    await s.waitRunning('default.web', { notPid: pid, converge: c });
    await waitFor(() => s.logOf('default.web').includes('from-second'), { what: 'the second spec running' });
  });

  it('converges 50 containers dropped at once (and times it)', async (t) => {
    const s = await env.scenario(t, 'fifty');
    const c = await s.run(['--allow-empty', `dir:${s.specDir}`]); // every file goes at the end
    await c.waitReady();
    const names = Array.from({ length: 50 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    const t0 = Date.now();
    for (const name of names) s.write(`${name}.yaml`, container(name, sleeper()));
    const tasks = await waitFor(
      async () => {
        const ts = await s.tasks();
        return ts.length === 50 && ts.every((x) => x.status === 'running') ? ts : undefined;
      },
      { what: '50 running tasks', timeoutMs: 90_000, intervalMs: 100, detail: () => c.tail() },
    );
    const ms = Date.now() - t0;
    t.diagnostic(`50 containers: files written -> all running in ${ms} ms`);
    assert.deepEqual(tasks.map((x) => x.id), names.map((n) => `default.${n}`));
    assert.equal(new Set(tasks.map((x) => x.pid)).size, 50);
    await waitFor(async () => (await c.status()).filter((r) => r.phase === 'Running').length === 50, { what: '50 Running rows in status' });
    assert.equal(c.actions().length, 50, 'one create each, nothing retried');
    assert.deepEqual(c.find((l) => l.msg === 'reconcile failed'), []);

    const t1 = Date.now();
    for (const name of names) s.remove(`${name}.yaml`);
    await waitFor(async () => (await s.containerIds()).length === 0 && (await s.snapshotKeys()).length === 0 && (await s.tasks()).length === 0, {
      what: 'all 50 gone',
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    t.diagnostic(`50 containers: files deleted -> all gone in ${Date.now() - t1} ms`);
  });

  it('prints a container output with `converge logs`, and follows it with -f', async (t) => {
    const s = await env.scenario(t, 'logs');
    const c = await s.run();
    s.write('talk.yaml', container('talk', sh('echo to-stdout; echo to-stderr >&2; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done')));
    await s.waitRunning('default.talk', { converge: c });
    // stdout and stderr reach the file through separate pipes of the shim: wait for both.
    await waitFor(() => /tick 1\n/.test(s.logOf('default.talk')) && s.logOf('default.talk').includes('to-stderr'), { what: 'first tick and the stderr line' });
    const res = await cli(['logs', 'talk', '--state-dir', s.stateDir]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /to-stdout\n/);
    assert.match(res.stderr, /to-stderr\n/, 'stderr lines to stderr');
    assert.doesNotMatch(res.stdout, /to-stderr/);
    assert.match(res.stdout, /tick 1\n/);
    const full = await cli(['logs', 'default/talk', '--state-dir', s.stateDir]);
    assert.match(full.stdout, /to-stdout\n/);

    // -f: what is there, then what comes, until interrupted.
    const ticks = () => [...s.logOf('default.talk').matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
    const upTo = Math.max(...ticks());
    const follow = spawn(process.execPath, [MAIN, 'logs', 'talk', '-f', '--state-dir', s.stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => follow.kill('SIGKILL'));
    let out = '';
    follow.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => follow.once('exit', (code) => resolve(code)));
    await waitFor(() => out.includes(`tick ${upTo + 3}\n`), { what: `logs -f to print tick ${upTo + 3}`, detail: () => out });
    assert.match(out, /^to-stdout\n|^to-stderr\n/, 'it starts from the beginning');
    follow.kill('SIGINT');
    assert.equal(await exited, 0);

    const missing = await cli(['logs', 'nothere', '--state-dir', s.stateDir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no logs for default\/nothere/);
  });

  it('starts a container only after the ones it dependsOn run', async (t) => {
    const s = await env.scenario(t, 'deps');
    const c = await s.run();
    s.write('app.yaml', container('app', { ...sleeper(), dependsOn: ['db'] }));
    const waiting = await c.waitRow('app', (r) => r.phase === 'Pending' && /waiting for db/.test(r.message), 'Pending on db');
    assert.equal(waiting.pid, null);
    await holds(async () => assert.deepEqual(await s.containerIds(), []), 500);

    s.write('db.yaml', container('db', sleeper()));
    const dbPid = await s.waitRunning('default.db', { converge: c });
    const appPid = await s.waitRunning('default.app', { converge: c });
    const dbDone = c.lines.findIndex((l) => l.msg === 'action done' && l.key === 'default/db');
    const appApply = c.lines.findIndex((l) => l.msg === 'applying action' && l.key === 'default/app');
    assert.ok(dbDone >= 0 && appApply > dbDone, `db started (line ${dbDone}) before app was created (line ${appApply})`);
    await c.waitRow('app', (r) => r.phase === 'Running' && r.pid === appPid, 'Running in status');
    await c.waitRow('db', (r) => r.phase === 'Running' && r.pid === dbPid, 'Running in status');
  });
});
