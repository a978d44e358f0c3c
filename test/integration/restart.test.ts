// End to end: what converge does when a task exits (restart policies, back-off, the restart
// count in status and on the containerd label) and how it stops a task (signal, grace, kill).

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LABEL_RESTARTS } from '../../src/containerd/labels.js';
import { container, Env, holds, sh, sleeper, timeOf, waitFor, type Converge } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

const FAST_BACKOFF = ['--backoff-initial', '50ms', '--backoff-max', '400ms'];

/** When converge began each create or restart of `key` (its "applying action" lines). */
const starts = (c: Converge, key: string): number[] =>
  c.actions(key).filter((l) => l.action === 'create' || l.action === 'restart').map(timeOf);

describe('converge run: restarts and stops', () => {
  it('restarts Always with a growing, capped back-off and counts restarts in status and label', async (t) => {
    const s = await env.scenario(t, 'always');
    // Fails six times, then runs: the count on a host file (a bind mount) survives restarts.
    const data = path.join(s.dir, 'data');
    mkdirSync(data);
    const c = await s.run(FAST_BACKOFF);
    s.write('crash.yaml', container('crash', {
      ...sh('n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo run $n; [ $n -gt 6 ] || exit 1; trap "exit 0" TERM; sleep 3600 & wait'),
      restartPolicy: 'Always',
      mounts: [{ type: 'bind', source: data, target: '/data' }],
    }));
    const row = await c.waitRow('crash', (r) => r.restarts === 6 && r.phase === 'Running', 'running after 6 restarts');
    const pid = await s.waitRunning('default.crash', { converge: c });
    assert.equal(row.pid, pid);
    // The 7th run's shell may still be between truncating the file and writing its count.
    await waitFor(() => readFileSync(path.join(data, 'n'), 'utf8').trim() === '7', { what: 'the 7th run to write its count (the file holds 1 more than the restarts)' });
    const actual = await s.get('default.crash');
    assert.equal(actual?.labels[LABEL_RESTARTS], '6');
    assert.equal(actual?.restarts, 6);

    const key = 'default/crash';
    assert.deepEqual(c.actions(key).map((l) => l.action), ['create', 'restart', 'restart', 'restart', 'restart', 'restart', 'restart']);
    const exits = c.find((l) => l.msg === 'task exited' && l.key === key);
    assert.deepEqual(exits.map((l) => l.exitStatus), [1, 1, 1, 1, 1, 1]);
    const startTimes = starts(c, key);
    assert.equal(startTimes.length, 7);
    // Restart i+1 begins at least back-off(i) after start i began (the task exits after it
    // starts, and the back-off counts from the exit); it doubles from 50 ms to its 400 ms cap.
    const between = startTimes.slice(1).map((at, i) => at - startTimes[i]);
    const exitToStart = exits.map((e, i) => startTimes[i + 1] - timeOf(e));
    t.diagnostic(`start->restart gaps: ${between.join(', ')} ms; exit seen->restart gaps: ${exitToStart.join(', ')} ms`);
    const backoff = [50, 100, 200, 400, 400, 400];
    between.forEach((gap, i) => assert.ok(gap >= backoff[i] - 2, `gap ${i} is ${gap} ms, expected >= ${backoff[i]}`));
    assert.ok(exitToStart[3] - exitToStart[0] >= 250, `the back-off grows: ${exitToStart.join(', ')}`);
    assert.ok(between[5] < 1_200, `the back-off is capped at 400 ms (uncapped it would be 1600): ${between[5]} ms`);
    await waitFor(() => /run 7\n/.test(s.logOf('default.crash')), { what: 'the 7th run in the log file' });
  });

  it('OnFailure leaves an exit 0 alone and restarts an exit 3', async (t) => {
    const s = await env.scenario(t, 'onfail');
    const c = await s.run(FAST_BACKOFF);
    s.write('ok.yaml', container('ok', { ...sh('echo done; exit 0'), restartPolicy: 'OnFailure' }));
    s.write('bad.yaml', container('bad', { ...sh('exit 3'), restartPolicy: 'OnFailure' }));
    const ok = await c.waitRow('ok', (r) => r.phase === 'Exited', 'Exited');
    assert.equal(ok.exitCode, 0);
    await c.waitRow('bad', (r) => r.restarts >= 2, 'restarted twice');
    assert.ok(c.find((l) => l.msg === 'task exited' && l.key === 'default/bad').every((l) => l.exitStatus === 3));
    await holds(async () => {
      const a = await s.get('default.ok');
      assert.equal(a?.task?.status, 'stopped');
      assert.equal(a?.task?.exitStatus, 0);
      assert.equal(a?.restarts, 0);
    }, 1_000); // 20 back-offs long
    assert.deepEqual(c.actions('default/ok').map((l) => l.action), ['create']);
    assert.equal((await s.task('default.ok'))?.status, 'stopped');
    assert.equal((await c.row('ok'))?.restarts, 0);
  });

  it('Never leaves an exit 3 exited and reports the code', async (t) => {
    const s = await env.scenario(t, 'never');
    const c = await s.run(FAST_BACKOFF);
    s.write('once.yaml', container('once', { ...sh('echo once; exit 3'), restartPolicy: 'Never' }));
    const row = await c.waitRow('once', (r) => r.phase === 'Exited', 'Exited');
    assert.equal(row.exitCode, 3);
    assert.equal(row.pid, null);
    await holds(async () => {
      const a = await s.get('default.once');
      assert.equal(a?.task?.status, 'stopped');
      assert.equal(a?.task?.exitStatus, 3);
      assert.equal(a?.restarts, 0);
    }, 1_000);
    assert.deepEqual(c.actions('default/once').map((l) => l.action), ['create']);
    assert.equal((await s.task('default.once'))?.status, 'stopped');
    assert.equal(s.logOf('default.once'), 'once\n', 'it ran exactly once');
  });

  it('restarts a task killed with SIGKILL promptly (Always)', async (t) => {
    const s = await env.scenario(t, 'kill');
    const c = await s.run(['--backoff-initial', '100ms']);
    s.write('web.yaml', container('web', sleeper('up')));
    const pid = await s.waitRunning('default.web', { converge: c });
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    const pid2 = await s.waitRunning('default.web', { notPid: pid, converge: c });
    const ms = Date.now() - t0;
    t.diagnostic(`SIGKILL -> running again: ${ms} ms`);
    const exit = await c.waitLog((l) => l.msg === 'task exited' && l.key === 'default/web', 'the exit');
    assert.equal(exit.pid, pid);
    assert.equal(exit.exitStatus, 137);
    const row = await c.waitRow('web', (r) => r.phase === 'Running' && r.pid === pid2, 'Running with the new pid');
    assert.equal(row.restarts, 1);
    assert.equal((await s.get('default.web'))?.labels[LABEL_RESTARTS], '1');
    assert.deepEqual(c.actions('default/web').map((l) => l.action), ['create', 'restart']);
  });

  it('stops a task that ignores SIGTERM with SIGKILL after its grace period', async (t) => {
    const s = await env.scenario(t, 'grace');
    const c = await s.run(['--allow-empty', `dir:${s.specDir}`]); // the only file goes
    s.write('stubborn.yaml', container('stubborn', { ...sh('trap "" TERM; echo ignoring; sleep 3600'), terminationGracePeriodSeconds: 1 }));
    const pid = await s.waitRunning('default.stubborn', { converge: c });
    await waitFor(() => s.logOf('default.stubborn').includes('ignoring'), { what: 'the trap set' });
    const t0 = Date.now();
    s.remove('stubborn.yaml');
    await s.waitGone('default.stubborn');
    const ms = Date.now() - t0;
    t.diagnostic(`delete -> gone with a 1 s grace period: ${ms} ms`);
    assert.ok(ms >= 1_000, `the grace period was kept: gone after ${ms} ms`);
    await c.waitLog((l) => l.msg === 'task did not stop in its grace period; killing it' && l.id === 'default.stubborn', 'the kill');
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });

  it('stops with the spec stopSignal, without waiting the grace period', async (t) => {
    const s = await env.scenario(t, 'signal');
    const c = await s.run(['--allow-empty', `dir:${s.specDir}`]); // the only file goes
    s.write('usr.yaml', container('usr', {
      ...sh('trap "echo got-usr1; exit 0" USR1; trap "" TERM; echo ready; sleep 3600 & wait'),
      stopSignal: 'SIGUSR1',
      terminationGracePeriodSeconds: 30,
    }));
    await s.waitRunning('default.usr', { converge: c });
    await waitFor(() => s.logOf('default.usr').includes('ready'), { what: 'the traps set' });
    const t0 = Date.now();
    s.remove('usr.yaml');
    await s.waitGone('default.usr');
    t.diagnostic(`delete -> gone with SIGUSR1 (grace 30 s): ${Date.now() - t0} ms`);
    // The log file goes with the container; the exit status tells the trap ran: 0 from its
    // `exit 0`, where SIGKILL after the grace period would be 137. It is read from the
    // delete's answer: containerd 2.x can lose the exit event of a task deleted at once.
    const deleted = await c.waitLog((l) => l.msg === 'task deleted' && l.key === 'default/usr', 'the task deleted');
    assert.equal(deleted.exitStatus, 0);
    assert.deepEqual(c.find((l) => l.msg === 'task did not stop in its grace period; killing it'), []);
  });
});
