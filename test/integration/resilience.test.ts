// End to end: converge restarted or killed, stale objects in its namespace, containerd going
// away and coming back, a spec directory that is missing: running containers are adopted,
// never restarted or removed on a guess, and what was asked for meanwhile is applied.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LABEL_MANAGED, LABEL_RESTARTS } from '../../src/containerd/labels.js';
import { container, Env, holds, IMAGE, sleeper, STATE_FILE, waitFor, writeSpec, type Scenario } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

const IDS = ['default.api', 'default.web', 'default.worker'];

async function pidsOf(s: Scenario): Promise<Record<string, number>> {
  return Object.fromEntries((await s.tasks()).filter((t) => t.status === 'running').map((t) => [t.id, t.pid]));
}

describe('converge run: resilience', () => {
  it('adopts running containers after its own stop or crash, and restarts what exited meanwhile', async (t) => {
    const s = await env.scenario(t, 'adopt');
    const c1 = await s.run();
    for (const name of ['api', 'web', 'worker']) s.write(`${name}.yaml`, container(name, sleeper(name)));
    for (const id of IDS) await s.waitRunning(id, { converge: c1 });
    await c1.waitReady();
    const pids = await pidsOf(s);
    assert.deepEqual(Object.keys(pids), IDS);

    // SIGTERM: converge exits 0, its containers run on, its state file goes.
    assert.equal(await c1.stop(), 0);
    assert.equal(existsSync(path.join(s.stateDir, STATE_FILE)), false);
    assert.deepEqual(await pidsOf(s), pids);

    const c2 = await s.run();
    await c2.waitReady();
    assert.deepEqual(await pidsOf(s), pids);
    assert.deepEqual(c2.actions(), [], 'a restart of converge restarts nothing');

    // SIGKILL (a crash), then a task dies while nobody watches.
    await c2.kill();
    assert.deepEqual(await pidsOf(s), pids);
    process.kill(pids['default.web'], 'SIGKILL');
    await waitFor(async () => (await s.task('default.web'))?.status === 'stopped', { what: 'web stopped' });

    const c3 = await s.run();
    await c3.waitReady();
    const web2 = await s.waitRunning('default.web', { notPid: pids['default.web'], converge: c3 });
    assert.deepEqual(c3.actions().map((l) => [l.key, l.action]), [['default/web', 'restart']]);
    assert.deepEqual(await pidsOf(s), { ...pids, 'default.web': web2 });
    const row = await c3.waitRow('web', (r) => r.phase === 'Running', 'Running');
    assert.equal(row.restarts, 1);
    const rows = await c3.status();
    assert.deepEqual(rows.map((r) => [r.name, r.phase]), [['api', 'Running'], ['web', 'Running'], ['worker', 'Running']]);
    assert.equal((await c3.http('/readyz')).status, 200);
  });

  it('replaces stale objects with the same ID once: a hand-made container, a snapshot; a hand-made running task only once it has stopped', async (t) => {
    const s = await env.scenario(t, 'stale');
    // A container record (and its snapshot) made by hand, as `ctr containers create` makes them.
    await s.ctr(['containers', 'create', IMAGE, 'default.web']);
    // A lone snapshot with the ID as its key (a create that died halfway).
    const parent = (await s.ctr(['snapshots', 'ls'])).split('\n').map((l) => l.split(/\s+/)[0]).find((k) => k.startsWith('sha256:'));
    assert.ok(parent, 'the image has a committed layer snapshot');
    await s.ctr(['snapshots', 'prepare', 'default.db', parent]);
    // A running task made by hand: not converge's (no converge.dev/managed label), so never deleted while it runs.
    await s.ctr(['run', '-d', IMAGE, 'default.job', 'sleep', '3600']);
    const handPid = (await s.task('default.job'))?.pid;
    assert.ok(handPid);
    assert.deepEqual(await s.containerIds(), ['default.job', 'default.web']);
    assert.deepEqual(await s.snapshotKeys(), ['default.db', 'default.job', 'default.web']);

    s.write('web.yaml', container('web', sleeper('web-from-spec')));
    s.write('db.yaml', container('db', sleeper('db-from-spec')));
    s.write('job.yaml', container('job', { ...sleeper('job-from-spec'), terminationGracePeriodSeconds: 1 }));
    const c = await s.run();
    await c.waitReady();
    for (const id of ['default.web', 'default.db']) {
      await s.waitRunning(id, { converge: c });
      const name = id.slice('default.'.length);
      await waitFor(() => s.logOf(id).includes(`${name}-from-spec`), { what: `${id} running its spec` });
      assert.equal((await s.get(id))?.labels[LABEL_MANAGED], 'true');
    }
    await c.waitRow('job', (r) => r.phase === 'Conflict', 'a conflict while the hand-made task runs');
    assert.equal((await s.task('default.job'))?.pid, handPid, 'the hand-made task still runs');

    // Stopped, it is a stale object: replaced once.
    await s.ctr(['tasks', 'kill', '-s', 'SIGKILL', 'default.job']);
    await s.waitRunning('default.job', { converge: c, notPid: handPid });
    await waitFor(() => s.logOf('default.job').includes('job-from-spec'), { what: 'default.job running its spec' });
    assert.equal((await s.get('default.job'))?.labels[LABEL_MANAGED], 'true');
    const actions = c.actions().map((l) => [l.key, l.action, l.reason]).sort();
    assert.deepEqual(actions, [
      ['default/db', 'create', 'missing'],
      ['default/job', 'recreate', 'a stale container not made by converge (no running task) holds the name'],
      ['default/web', 'recreate', 'a stale container not made by converge (no running task) holds the name'],
    ]);
    assert.deepEqual(c.find((l) => l.msg === 'removing stale object before create').map((l) => l.key), ['default/db']);
    assert.deepEqual(c.find((l) => l.msg === 'reconcile failed'), []);
    assert.deepEqual(await s.containerIds(), ['default.db', 'default.job', 'default.web']);
    assert.deepEqual(await s.snapshotKeys(), ['default.db', 'default.job', 'default.web']);
  });

  it('rides out containerd going away: stays up, applies an edit made meanwhile, sees exits again', async (t) => {
    const s = await env.scenario(t, 'cdown');
    const c = await s.run(['--resync', '2s']);
    s.write('web.yaml', container('web', sleeper('web-v1')));
    s.write('api.yaml', container('api', sleeper('api')));
    s.write('worker.yaml', container('worker', sleeper('worker')));
    const webPid = await s.waitRunning('default.web', { converge: c });
    const apiPid = await s.waitRunning('default.api', { converge: c });
    const workerPid = await s.waitRunning('default.worker', { converge: c });
    await c.waitReady();

    let since = c.lines.length;
    await env.cd.stop();
    t.after(() => env.cd.start()); // for the next test, should this one fail while it is down
    await c.waitLog((l) => /event stream (failed|ended)/.test(l.msg), 'the event stream noticing', { since });
    // An edit while containerd is away: tried, failed, kept for later.
    since = c.lines.length;
    s.write('web.yaml', container('web', sleeper('web-v2')));
    await c.waitLog((l) => l.msg === 'reconcile failed' && l.key === 'default/web', 'the edit tried and failed', { since });
    // A task that dies while containerd is away.
    process.kill(workerPid, 'SIGKILL');
    assert.ok(c.running, 'converge is still up');
    assert.equal((await c.http('/healthz')).status, 200);

    since = c.lines.length;
    await env.cd.start();
    const webPid2 = await s.waitRunning('default.web', { notPid: webPid, converge: c, timeoutMs: 30_000 });
    await waitFor(() => s.logOf('default.web').includes('web-v2'), { what: 'the edit applied' });
    const workerPid2 = await s.waitRunning('default.worker', { notPid: workerPid, converge: c, timeoutMs: 30_000 });
    assert.equal((await s.get('default.api'))?.task?.pid, apiPid, 'api kept running across the containerd restart');
    await c.waitLog((l) => l.msg === 'event stream reconnected; resyncing', 'the event stream back', { since });

    // Exits are seen from the stream again (a "task exited" line without seenBy is the
    // event's; one a read found says seenBy: read). No wall-clock bound: the machine is shared.
    since = c.lines.length;
    process.kill(apiPid, 'SIGKILL');
    await c.waitLog((l) => l.msg === 'task exited' && l.key === 'default/api' && l.seenBy === undefined, 'the exit event', { since });
    const apiPid2 = await s.waitRunning('default.api', { notPid: apiPid, converge: c });
    const row = await c.waitRow('api', (r) => r.pid === apiPid2, 'the new pid');
    assert.equal(row.restarts, 1);
    assert.equal((await s.get('default.worker'))?.labels[LABEL_RESTARTS], '1');
    assert.equal((await s.get('default.web'))?.labels[LABEL_RESTARTS], '0');
    assert.ok(c.running);
    assert.deepEqual(await pidsOf(s), { 'default.api': apiPid2, 'default.web': webPid2, 'default.worker': workerPid2 });
  });

  it('removes nothing while its directory is missing, and converges once it appears', async (t) => {
    const s = await env.scenario(t, 'nodir');
    const c1 = await s.run();
    s.write('web.yaml', container('web', sleeper('web')));
    s.write('db.yaml', container('db', sleeper('db')));
    const webPid = await s.waitRunning('default.web', { converge: c1 });
    const dbPid = await s.waitRunning('default.db', { converge: c1 });
    await c1.stop();

    rmSync(s.specDir, { recursive: true });
    const c2 = await s.run(['--resync', '500ms']);
    await c2.waitLog((l) => l.msg === 'spec directory unreadable; keeping its last good specs', 'the missing dir noticed');
    await c2.waitRow('web', (r) => r.phase === 'Orphaned', 'Orphaned (kept)');
    assert.equal((await c2.http('/readyz')).status, 503, 'not ready before every source was read');
    await holds(async () => {
      assert.equal((await s.get('default.web'))?.task?.pid, webPid);
      assert.equal((await s.get('default.db'))?.task?.pid, dbPid);
    }, 2_000); // four resyncs
    assert.deepEqual(c2.actions(), []);

    // The directory appears (in one step, as a mount would) holding only web.
    const staging = path.join(s.dir, 'staging');
    mkdirSync(staging);
    writeSpec(staging, 'web.yaml', container('web', sleeper('web')));
    renameSync(staging, s.specDir);
    await c2.waitReady();
    await s.waitGone('default.db');
    assert.equal((await s.get('default.web'))?.task?.pid, webPid);
    assert.deepEqual(c2.actions().map((l) => [l.key, l.action]), [['default/db', 'remove']]);
    assert.deepEqual(await s.containerIds(), ['default.web']);
  });
});
