// End to end, against a real containerd: what converge keeps of how a task ended, across a
// restart of converge (labels on the container): an OOM kill, and a start that failed (exit
// code 128 with the error, as docker records it); and a paused task shows as Paused.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { StatusRow } from '../../src/reconcile/status.js';
import { cli, container, Env, sh, sleeper, waitFor, type Scenario } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

const FAST = ['--backoff-initial', '50ms', '--backoff-max', '500ms', '--resync', '1s'];
const flags = (s: Scenario): string[] => ['--containerd-address', s.env.address, '--namespace', s.namespace, '--state-dir', s.stateDir];

/** `converge status -o json` with no controller running: what containerd and the labels say. */
async function statusWithoutController(s: Scenario, name: string): Promise<StatusRow | undefined> {
  const res = await cli(['status', '-o', 'json', ...flags(s)]);
  assert.equal(res.code, 0, res.stderr);
  return (JSON.parse(res.stdout) as StatusRow[]).find((r) => r.name === name);
}

describe('termination that survives a restart of converge', () => {
  it('an OOM kill shows OOMKilled, still after converge restarts and without a controller', async (t) => {
    const s = await env.scenario(t, 'oom');
    const c = await s.run(FAST);
    // dd's 64 MiB buffer under a 16 MiB limit (and no swap in the cgroup's reach): the kernel
    // kills it. After a moment of running: the runc shim watches a task's cgroup for OOM only
    // once the task has started, so containerd reports no OOM kill in a task's first
    // milliseconds (seen on 1.6.20, about 1 run in 7 when dd ran at once).
    s.write('hog.yaml', container('hog', { ...sh('sleep 0.5; exec dd if=/dev/zero of=/dev/null bs=64M count=1'), restartPolicy: 'Never', resources: { limits: { memory: '16Mi' } } }));
    const row = await c.waitRow('hog', (r) => r.phase === 'Exited' && r.message.includes('OOMKilled'), 'Exited, OOMKilled', 30_000);
    assert.equal(row.exitCode, 137);
    // Written on the container by the reconcile that the OOM event queued.
    await waitFor(async () => (await s.get('default.hog'))?.termination?.reason === 'OOMKilled', { what: 'the OOM kill on the container\'s labels', detail: () => c.tail() });
    await c.stop();
    const offline = await statusWithoutController(s, 'hog');
    assert.equal(offline?.phase, 'Exited');
    assert.equal(offline?.exitCode, 137);
    assert.equal(offline?.message, 'OOMKilled');
    const again = await s.run(FAST);
    await again.waitReady();
    const kept = await again.waitRow('hog', (r) => r.phase === 'Exited', 'Exited');
    assert.equal(kept.message, 'OOMKilled');
    assert.equal(kept.exitCode, 137);
  });

  it('a start that fails shows exit code 128 and the error, still after converge restarts; a start that works clears it', async (t) => {
    const s = await env.scenario(t, 'starterr');
    const c = await s.run(FAST);
    s.write('bad.yaml', container('bad', { command: ['/no/such/binary'], restartPolicy: 'Never' }));
    const row = await c.waitRow('bad', (r) => r.phase === 'Failed' && r.exitCode === 128, 'Failed with exit code 128', 30_000);
    assert.match(row.message, /no such file|not found/i);
    await c.stop();
    const offline = await statusWithoutController(s, 'bad');
    assert.equal(offline?.phase, 'Failed');
    assert.equal(offline?.exitCode, 128);
    assert.match(offline?.message ?? '', /^StartError: .*(no such file|not found)/i);
    const again = await s.run(FAST);
    const kept = await again.waitRow('bad', (r) => r.phase === 'Failed', 'Failed');
    assert.equal(kept.exitCode, 128);
    assert.match(kept.message, /no such file|not found/i);
    // Fixed: the next task starts, and the record of the failure goes.
    s.write('bad.yaml', container('bad', { ...sleeper(), restartPolicy: 'Never' }));
    await again.waitRow('bad', (r) => r.phase === 'Running', 'Running');
    assert.equal((await s.get('default.bad'))?.termination, undefined);
  });

  it('a paused task shows Paused (not Running), and Running again once resumed', async (t) => {
    const s = await env.scenario(t, 'paused');
    const c = await s.run(FAST);
    s.write('web.yaml', container('web', sleeper()));
    const pid = await s.waitRunning('default.web', { converge: c });
    await s.ctr(['tasks', 'pause', 'default.web']);
    await c.waitRow('web', (r) => r.phase === 'Paused', 'Paused');
    await c.stop();
    assert.equal((await statusWithoutController(s, 'web'))?.phase, 'Paused');
    await s.ctr(['tasks', 'resume', 'default.web']);
    const again = await s.run(FAST);
    const row = await again.waitRow('web', (r) => r.phase === 'Running', 'Running again');
    assert.equal(row.pid, pid);
    assert.equal(row.restarts, 0);
  });
});
