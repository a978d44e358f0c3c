// End to end, against a real containerd: health checks. An exec check runs inside the task
// with the container's env, user and working directory and its output shows in status; one
// that starts failing gets the task killed and restarted by its restart policy; a check that
// times out is killed and its exec process deleted; restartPolicy Never only reports; an
// httpGet check reaches a host-network container; a restart of converge resumes probing
// without restarting anything.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../harness/net.js';
import { container, Env, holds, sh, waitFor, type Converge, type Scenario } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

const FAST = ['--backoff-initial', '50ms', '--backoff-max', '400ms'];

/** The processes of a task as `ctr tasks ps` lists them (pids). */
async function processes(s: Scenario, id: string): Promise<number[]> {
  const out = await s.ctr(['tasks', 'ps', id]);
  return out.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0])).filter((n) => n > 0);
}

/** The command lines of a task's processes, read from the host's /proc. */
async function commands(s: Scenario, id: string): Promise<string[]> {
  return (await processes(s, id)).map((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      return ''; // exited in between
    }
  });
}

/** No process of the check (its command line holds `marker`) in the task, no probe output file. */
async function noProbeLeftovers(s: Scenario, id: string, marker: string, c: Converge): Promise<void> {
  let last: string[] = [];
  await waitFor(
    async () => {
      last = await commands(s, id);
      let files: string[] = [];
      try {
        files = readdirSync(path.join(s.stateDir, 'probes'));
      } catch {
        // not made yet
      }
      return !last.some((cmd) => cmd.includes(marker)) && files.length === 0;
    },
    { what: `${id}: no process of the check, no probe files`, detail: () => `${JSON.stringify(last)}\n${c.tail()}` },
  );
}

describe('converge run: health checks', () => {
  it('runs an exec check with the container\'s env, user and working directory, and shows its output', async (t) => {
    const s = await env.scenario(t, 'hexec');
    const c = await s.run(FAST);
    s.write('web.yaml', container('web', {
      ...sh("trap 'exit 0' TERM; sleep 3600 & wait"),
      env: [{ name: 'GREETING', value: 'hi' }],
      user: '1000:1000',
      workingDir: '/tmp',
      healthCheck: { exec: ['/bin/sh', '-c', 'echo "$GREETING $(id -u) $(pwd)"; test "$GREETING" = hi'], periodSeconds: 1 },
    }));
    const row = await c.waitRow('web', (r) => r.health === 'Healthy', 'Healthy');
    assert.equal(row.healthOutput, 'hi 1000 /tmp');
    assert.equal(row.healthFailures, 0);
    assert.ok(row.lastProbeAt && Date.parse(row.lastProbeAt) > 0);
    const metrics = (await c.http('/metrics')).body;
    assert.match(metrics, /converge_container_health\{namespace="default",name="web",health="Healthy"\} 1/);
    assert.match(metrics, /converge_health_probes_total\{result="healthy"\} [1-9]/);
    // While it runs, the checks come and go: never two at once, none left over.
    await holds(async () => assert.ok((await commands(s, 'default.web')).filter((cmd) => cmd.includes('GREETING')).length <= 1), 2_000, 50);
    await c.stop(); // nothing in flight now: whatever is left, the probes left
    await noProbeLeftovers(s, 'default.web', 'GREETING', c);
  });

  it('kills and restarts a task whose exec check starts failing, counted as a restart', async (t) => {
    const s = await env.scenario(t, 'hfail');
    const data = path.join(s.dir, 'data');
    mkdirSync(data);
    const c = await s.run(FAST);
    s.write('app.yaml', container('app', {
      // Every start makes the file again, so a restarted task is healthy again.
      ...sh("echo start; touch /data/ok; trap 'exit 0' TERM; sleep 3600 & wait"),
      mounts: [{ type: 'bind', source: data, target: '/data' }],
      healthCheck: { exec: ['test', '-f', '/data/ok'], periodSeconds: 1, failureThreshold: 2 },
    }));
    await c.waitRow('app', (r) => r.health === 'Healthy', 'Healthy');
    const pid = await s.waitRunning('default.app', { converge: c });
    rmSync(path.join(data, 'ok'));
    const unhealthy = await c.waitLog((l) => l.msg.startsWith('health changed') && l.key === 'default/app' && l.health === 'Unhealthy', 'Unhealthy');
    assert.equal(unhealthy.failures, 2);
    const row = await c.waitRow('app', (r) => r.restarts === 1 && r.health === 'Healthy' && r.pid !== pid, 'restarted once and Healthy again');
    assert.equal((await s.get('default.app'))?.restarts, 1);
    const actions = c.actions('default/app').map((l) => l.action);
    assert.deepEqual(actions, ['create', 'kill', 'restart']);
    const restart = c.actions('default/app').find((l) => l.action === 'restart');
    assert.match(String(restart?.reason), /killed for its health check \(unhealthy: 2 consecutive failed probes/);
    // The task was stopped with its stop signal (its trap exits 0), not SIGKILLed.
    const exit = c.find((l) => l.msg === 'task exited' && l.key === 'default/app' && l.pid === pid);
    assert.equal(exit[0]?.exitStatus, 0);
    assert.ok(row.pid);
  });

  it('kills a check past its timeout and deletes its process; restartPolicy Never only reports', async (t) => {
    const s = await env.scenario(t, 'htime');
    const c = await s.run(FAST);
    s.write('slow.yaml', container('slow', {
      ...sh("trap 'exit 0' TERM; sleep 3600 & wait"),
      restartPolicy: 'Never',
      healthCheck: { exec: ['sleep', '30'], periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 2 },
    }));
    const pid = await s.waitRunning('default.slow', { converge: c });
    const row = await c.waitRow('slow', (r) => r.health === 'Unhealthy', 'Unhealthy', 30_000);
    assert.match(String(row.healthOutput), /timed out after 1000 ms; killed/);
    // Reported only: the task keeps running, nothing restarts it, no sleep is left behind.
    await holds(async () => {
      const a = await s.get('default.slow');
      assert.equal(a?.task?.pid, pid);
      assert.equal(a?.restarts, 0);
    }, 1_500);
    assert.deepEqual(c.actions('default/slow').map((l) => l.action), ['create']);
    await c.stop(); // no probe in flight: what is left is what the probes left
    await noProbeLeftovers(s, 'default.slow', 'sleep 30', c);
  });

  it('stopping converge ends a long check at once: its process is killed and deleted', async (t) => {
    const s = await env.scenario(t, 'hstop');
    const c = await s.run(FAST);
    s.write('long.yaml', container('long', { ...sh("trap 'exit 0' TERM; sleep 3600 & wait"), healthCheck: { exec: ['sleep', '45'], periodSeconds: 1, timeoutSeconds: 60 } }));
    await waitFor(async () => (await commands(s, 'default.long')).some((cmd) => cmd === 'sleep 45'), { what: 'the check running', detail: () => c.tail() });
    // Converge.stop gives it 15 s: a stop that waited out the check's 60 s timeout fails here.
    assert.equal(await c.stop(), 0);
    await noProbeLeftovers(s, 'default.long', 'sleep 45', c);
  });

  it('probes a host-network container over HTTP, and restarts it when the check fails', async (t) => {
    const s = await env.scenario(t, 'hhttp');
    const www = path.join(s.dir, 'www');
    mkdirSync(www);
    writeFileSync(path.join(www, 'ok.html'), 'fine\n');
    const port = await freePort();
    const c = await s.run(FAST);
    s.write('web.yaml', container('web', {
      command: ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', '/www'],
      network: 'host',
      mounts: [{ type: 'bind', source: www, target: '/www', readOnly: true }],
      healthCheck: { httpGet: { port, path: '/ok.html' }, periodSeconds: 1, failureThreshold: 2 },
    }));
    const row = await c.waitRow('web', (r) => r.health === 'Healthy', 'Healthy');
    assert.equal(row.healthOutput, 'HTTP 200: fine');
    rmSync(path.join(www, 'ok.html'));
    await c.waitLog((l) => l.msg.startsWith('health changed') && l.key === 'default/web' && l.health === 'Unhealthy', 'Unhealthy');
    await c.waitRow('web', (r) => r.restarts >= 1, 'restarted');
    assert.match(String(c.find((l) => l.health === 'Unhealthy')[0]?.output), /^HTTP 404/);
  });

  it('a restart of converge resumes probing adopted containers without restarting them', async (t) => {
    const s = await env.scenario(t, 'hadopt');
    const c1 = await s.run(FAST);
    s.write('web.yaml', container('web', { ...sh("trap 'exit 0' TERM; sleep 3600 & wait"), healthCheck: { exec: ['true'], periodSeconds: 1 } }));
    await c1.waitRow('web', (r) => r.health === 'Healthy', 'Healthy');
    const pid = await s.waitRunning('default.web', { converge: c1 });
    await c1.kill();
    const c2 = await s.run(FAST);
    const row = await c2.waitRow('web', (r) => r.health === 'Healthy', 'Healthy after the restart of converge');
    assert.equal(row.pid, pid);
    assert.deepEqual(c2.actions(), [], 'nothing applied');
    assert.equal((await s.get('default.web'))?.restarts, 0);
  });
});
