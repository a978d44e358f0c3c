// End to end, against a real containerd: dependsOn ordering. web waits for db to be Healthy
// and for migrate to have Completed (exit 0), at boot, after converge and every task are
// killed, and after containerd is killed with every task; a dependency no source declares
// and one that exited non-zero show on the waiting container's status.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ContainerSpec } from '../../src/spec/types.js';
import { container, Env, holds, sh, timeOf, type Converge, type LogLine, type Scenario } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

const FAST = ['--backoff-initial', '50ms', '--backoff-max', '400ms', '--resync', '2s'];
const LONG = "trap 'exit 0' TERM; sleep 3600 & wait";

/** migrate (a job), db (healthy a second after each start: its flag is on a fresh tmpfs) and web. */
function stack(data: string): ContainerSpec[] {
  return [
    container('migrate', { ...sh('sleep 1; echo migrated > /data/migrated'), restartPolicy: 'OnFailure', mounts: [{ type: 'bind', source: data, target: '/data' }] }),
    container('db', {
      ...sh(`sleep 1; touch /run/ready; ${LONG}`),
      mounts: [{ type: 'tmpfs', target: '/run' }],
      healthCheck: { exec: ['test', '-f', '/run/ready'], periodSeconds: 1 },
    }),
    container('web', {
      // Started too early it would see no migration and exit 3 (and be restarted).
      ...sh(`test -f /data/migrated || exit 3; ${LONG}`),
      mounts: [{ type: 'bind', source: data, target: '/data', readOnly: true }],
      dependsOn: [{ name: 'db', condition: 'Healthy' }, { name: 'migrate', condition: 'Completed' }],
    }),
  ];
}

const healthy = (key: string) => (l: LogLine) => l.msg.startsWith('health changed') && l.key === key && l.health === 'Healthy';
const exited0 = (key: string) => (l: LogLine) => l.msg === 'task exited' && l.key === key && l.exitStatus === 0;
const started = (key: string, action: string) => (l: LogLine) => l.msg === 'applying action' && l.key === key && l.action === action;

/** web's `action` came after db turned Healthy (in this converge's log, from `since`). */
function assertAfterHealthy(c: Converge, action: string, since = 0): void {
  const h = c.find(healthy('default/db'), since);
  const w = c.find(started('default/web', action), since);
  assert.ok(h.length > 0 && w.length > 0, `db Healthy and web ${action} both logged\n${c.tail()}`);
  assert.ok(c.lines.indexOf(w[0]) > c.lines.indexOf(h[0]), `web ${action} (${w[0].time}) after db Healthy (${h[0].time})`);
}

async function taskPids(s: Scenario, ids: string[]): Promise<number[]> {
  const pids = await Promise.all(ids.map(async (id) => (await s.get(id))?.task?.pid ?? 0));
  assert.ok(pids.every((p) => p > 0), `every task runs: ${pids.join(', ')}`);
  return pids;
}

const killAll = (pids: number[]): void => pids.forEach((pid) => process.kill(pid, 'SIGKILL'));

describe('converge run: dependsOn', () => {
  it('starts web after db is Healthy and migrate Completed, at boot and after converge and every task are killed', async (t) => {
    const s = await env.scenario(t, 'deps');
    const data = path.join(s.dir, 'data');
    mkdirSync(data);
    for (const doc of stack(data)) s.write(`${doc.metadata.name}.yaml`, doc);
    const c1 = await s.run(FAST);
    await c1.waitRow('web', (r) => r.phase === 'Running', 'web running');
    assertAfterHealthy(c1, 'create');
    const migrated = c1.find(exited0('default/migrate'));
    assert.ok(migrated.length === 1 && timeOf(migrated[0]) <= timeOf(c1.find(started('default/web', 'create'))[0]));
    assert.deepEqual(c1.actions('default/web').map((l) => l.action), ['create'], 'web never started early (no exit 3, no restart)');
    const waited = c1.find((l) => l.msg === 'applying action' && l.key === 'default/web');
    assert.equal(waited.length, 1);

    // converge and every task killed: db comes back Starting, and web waits for it again.
    await c1.kill();
    killAll(await taskPids(s, ['default.db', 'default.web']));
    const c2 = await s.run(FAST);
    const row = await c2.waitRow('web', (r) => r.phase === 'Running' && r.restarts === 1, 'web running again', 30_000);
    assertAfterHealthy(c2, 'restart');
    assert.equal(row.exitCode, null);
    assert.deepEqual(c2.actions('default/migrate'), [], 'a Completed job is not run again');
    assert.equal((await c2.row('migrate'))?.phase, 'Exited');
  });

  it('keeps the order after containerd is killed together with every task', async (t) => {
    const s = await env.scenario(t, 'depscd');
    const data = path.join(s.dir, 'data');
    mkdirSync(data);
    for (const doc of stack(data)) s.write(`${doc.metadata.name}.yaml`, doc);
    const c = await s.run(FAST);
    await c.waitRow('web', (r) => r.phase === 'Running', 'web running');
    t.after(() => env.cd.start().catch(() => undefined)); // for the next test, should this one fail while it is down
    const pids = await taskPids(s, ['default.db', 'default.web']);
    await env.cd.kill();
    killAll(pids);
    await env.cd.start();
    const since = c.lines.length;
    await c.waitRow('web', (r) => r.phase === 'Running' && r.restarts >= 1, 'web running again', 40_000);
    assertAfterHealthy(c, 'restart', since);
  });

  it('shows a dependency no source declares, and one that exited non-zero, on the waiting container', async (t) => {
    const s = await env.scenario(t, 'depsmiss');
    const c = await s.run(FAST);
    s.write('web.yaml', container('web', { ...sh(LONG), dependsOn: ['cache'] }));
    s.write('job.yaml', container('job', { ...sh('exit 4'), restartPolicy: 'Never' }));
    s.write('api.yaml', container('api', { ...sh(LONG), dependsOn: [{ name: 'job', condition: 'Completed' }] }));
    const web = await c.waitRow('web', (r) => /cache \(no source declares it\)/.test(r.message), 'the missing dependency shown');
    assert.equal(web.phase, 'Pending');
    const api = await c.waitRow('api', (r) => /job to complete \(it exited with code 4\)/.test(r.message), 'the failed dependency shown');
    assert.equal(api.phase, 'Pending');
    // Declaring it lets web go.
    s.write('cache.yaml', container('cache', sh(LONG)));
    await c.waitRow('web', (r) => r.phase === 'Running', 'web running once cache runs');
  });

  it('a new task of a dependency restarts only the dependents that asked for it (restart: true)', async (t) => {
    const s = await env.scenario(t, 'depsrestart');
    const c = await s.run(FAST);
    s.write('db.yaml', container('db', sh(LONG)));
    s.write('api.yaml', container('api', { ...sh(LONG), restartPolicy: 'Never', dependsOn: [{ name: 'db', restart: true }] }));
    s.write('worker.yaml', container('worker', { ...sh(LONG), dependsOn: ['db'] }));
    const [db, api, worker] = await Promise.all(['db', 'api', 'worker'].map((n) => s.waitRunning(`default.${n}`, { converge: c })));
    process.kill(db, 'SIGKILL');
    await s.waitRunning('default.db', { converge: c, notPid: db });
    const row = await c.waitRow('api', (r) => r.phase === 'Running' && r.pid !== api, 'api running with a new task');
    assert.equal(row.restarts, 1, 'counted as a restart, though its policy is Never: it asked to follow db');
    assert.deepEqual(c.actions('default/api').map((l) => [l.action, l.reason]), [
      ['create', 'missing'],
      ['kill', 'db has a new task (restart: true)'],
      ['restart', 'stopped because db has a new task (restart: true)'],
    ]);
    await holds(async () => assert.equal((await c.row('worker'))?.pid, worker), 1_000);
    assert.deepEqual(c.actions('default/worker').map((l) => l.action), ['create'], 'without restart: true it keeps running (compose\'s default)');
  });

  it('reports a cycle on every member and starts none of them', async (t) => {
    const s = await env.scenario(t, 'depscycle');
    const c = await s.run(FAST);
    s.write('a.yaml', container('a', { ...sh(LONG), dependsOn: ['b'] }));
    s.write('b.yaml', container('b', { ...sh(LONG), dependsOn: ['c'] }));
    s.write('c.yaml', container('c', { ...sh(LONG), dependsOn: ['a'] }));
    for (const name of ['a', 'b', 'c']) {
      const row = await c.waitRow(name, (r) => /dependency cycle a -> b -> c -> a \(members: a, b, c\)/.test(r.message), 'the cycle shown');
      assert.equal(row.phase, 'Pending');
    }
    assert.deepEqual(c.actions(), []);
    s.write('c.yaml', container('c', sh(LONG)));
    await c.waitRow('a', (r) => r.phase === 'Running', 'a running once the cycle is broken');
  });
});
