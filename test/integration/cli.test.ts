// End to end: the commands besides `run` (validate, plan, status) and the --listen server
// (/healthz, /readyz, /metrics, /v1/status), each against real files and a real containerd.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StatusRow } from '../../src/reconcile/status.js';
import { cli, container, Env, sh, sleeper, writeSpec, type Scenario } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

/** Everything containerd holds in the namespace, to compare before and after a command. */
async function snapshotOf(s: Scenario): Promise<string> {
  return JSON.stringify([await s.containerIds(), await s.tasks(), await s.snapshotKeys()]);
}

const BAD_DOCS = `apiVersion: converge.dev/v1alpha1
kind: Container
metadata: {name: fine}
spec: {image: localhost/busybox:latest}
---
apiVersion: converge.dev/v1alpha1
kind: Container
metadata:
  name: Bad_Name
spec:
  image: localhost/busybox:latest
  restartPolicy: Sometimes
  imagePullPolcy: Always
`;

describe('converge validate', () => {
  it('exits 0 on valid files, 1 with file, document, line, field and expectation on bad ones, 2 on no input', async (t) => {
    const s = await env.scenario(t, 'val');
    const good = s.write('good.yaml', [container('web', sleeper()), container('db', sleeper())]);
    const ok = await cli(['validate', good]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal(ok.stdout, '1 file checked, 2 containers, 0 problems\n');

    const bad = s.write('bad.yaml', BAD_DOCS);
    const broken = s.write('broken.yaml', 'apiVersion: [1\n');
    const dup = s.write('z-dup.yaml', container('web', sleeper()));
    const missing = path.join(s.specDir, 'nothere.yaml');
    const res = await cli(['validate', s.specDir, missing]);
    assert.equal(res.code, 1);
    const lines = res.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.filter((l) => l.startsWith(bad)), [
      `${bad}: document 1 (line 9): metadata.name: must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit`,
      `${bad}: document 1 (line 12): spec.restartPolicy: must be one of Always, OnFailure, Never`,
      `${bad}: document 1 (line 13): spec: unknown field 'imagePullPolcy' (did you mean 'imagePullPolicy'?)`,
    ]);
    assert.ok(lines.some((l) => l.startsWith(`${broken}: line `)), `a syntax error names file and line:\n${res.stdout}`);
    assert.ok(lines.includes(`${dup}: metadata.name: default/web is also declared in ${good}`), res.stdout);
    assert.ok(lines.includes(`${missing}: does not exist`), res.stdout);
    // bad.yaml's good document counts; dup's web does not.
    assert.equal(lines.at(-1), '4 files checked, 3 containers, 6 problems');

    const none = await cli(['validate']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /converge validate: expected at least one PATH/);
  });

  it('rejects unknown commands and flags with exit code 2', async () => {
    const cmd = await cli(['frobnicate']);
    assert.equal(cmd.code, 2);
    assert.match(cmd.stderr, /unknown command 'frobnicate'/);
    const flag = await cli(['run', '--dri', '/tmp']);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--dri/);
  });
});

describe('converge plan', () => {
  it('prints create, recreate and remove with reasons and changes nothing', async (t) => {
    const s = await env.scenario(t, 'plan');
    const flags = ['--dir', s.specDir, '--containerd-address', env.address, '--namespace', s.namespace, '--state-dir', s.stateDir];
    s.write('web.yaml', container('web', sleeper('v1')));
    s.write('db.yaml', container('db', sleeper()));
    const empty = await cli(['plan', ...flags]);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, 'create   default/db: missing\ncreate   default/web: missing\n');
    assert.deepEqual(await s.containerIds(), [], 'plan created nothing');

    const c = await s.run();
    await s.waitRunning('default.web', { converge: c });
    await s.waitRunning('default.db', { converge: c });
    await c.waitReady();
    await c.stop();
    const converged = await cli(['plan', ...flags]);
    assert.equal(converged.stdout, 'nothing to do: converged\n');

    s.write('web.yaml', container('web', sleeper('v2')));
    s.remove('db.yaml');
    s.write('new.yaml', container('new', sleeper()));
    s.write('bad.yaml', container('bad', { ...sleeper(), restartPolicy: 'Sometimes' as never }));
    const before = await snapshotOf(s);
    const res = await cli(['plan', ...flags]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(
      res.stdout,
      'remove   default/db: no longer desired\ncreate   default/new: missing\nrecreate default/web: spec changed\n',
    );
    assert.match(res.stderr, /problem: .*bad\.yaml: document 0 \(line \d+\): spec\.restartPolicy: must be one of/);
    assert.equal(await snapshotOf(s), before, 'containerd is unchanged');
    assert.equal(JSON.parse(before)[1].length, 2, 'both tasks still run');
  });
});

describe('converge status and the --listen server', () => {
  it('shows rows from a running controller (table, json, --server) and from containerd alone', async (t) => {
    const s = await env.scenario(t, 'status');
    const c = await s.run(['--backoff-initial', '50ms']);
    s.write('web.yaml', container('web', sleeper()));
    s.write('once.yaml', container('once', { ...sh('exit 3'), restartPolicy: 'Never' }));
    const webPid = await s.waitRunning('default.web', { converge: c });
    await c.waitRow('once', (r) => r.phase === 'Exited', 'Exited');
    await c.waitRow('web', (r) => r.phase === 'Running' && r.pid === webPid, 'Running');
    await c.waitReady();

    // Through the running controller: found from the state dir, or named with --server.
    const table = await cli(['status', '--state-dir', s.stateDir]);
    assert.equal(table.code, 0, table.stderr);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    assert.match(header, /^NAMESPACE\s+NAME\s+PHASE\s+RESTARTS\s+AGE\s+EXIT\s+MESSAGE$/);
    assert.equal(rows.length, 2);
    assert.match(rows[0], /^default\s+once\s+Exited\s+0\s+\d+s\s+3$/);
    assert.match(rows[1], /^default\s+web\s+Running\s+0\s+\d+s\s+-$/);
    const json = await cli(['status', '--server', c.listen, '-o', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const fromServer = JSON.parse(json.stdout) as StatusRow[];
    assert.deepEqual(fromServer.map((r) => [r.name, r.phase, r.pid, r.exitCode, r.restarts]), [
      ['once', 'Exited', null, 3, 0],
      ['web', 'Running', webPid, null, 0],
    ]);
    assert.equal(fromServer[1].source, `dir:${path.join(s.specDir, 'web.yaml')}`);
    assert.deepEqual(fromServer, await c.status());

    // With no controller: straight from containerd.
    await c.stop();
    const direct = await cli(['status', '--state-dir', s.stateDir, '--containerd-address', env.address, '--namespace', s.namespace, '-o', 'json']);
    assert.equal(direct.code, 0, direct.stderr);
    const fromContainerd = JSON.parse(direct.stdout) as StatusRow[];
    assert.deepEqual(fromContainerd.map((r) => [r.id, r.phase, r.pid, r.exitCode]), [
      ['default.once', 'Exited', null, 3],
      ['default.web', 'Running', webPid, null],
    ]);
    const directTable = await cli(['status', '--state-dir', s.stateDir, '--containerd-address', env.address, '--namespace', s.namespace]);
    assert.match(directTable.stdout, /\ndefault\s+web\s+Running\s+0\s+\d+s\s+-\n/);
  });

  it('serves /healthz, /readyz, /metrics with converge_ metrics, and refuses what it does not serve', async (t) => {
    const s = await env.scenario(t, 'http');
    mkdirSync(path.join(s.dir, 'extra'));
    writeSpec(path.join(s.dir, 'extra'), 'db.yaml', container('db', sleeper()));
    const c = await s.run([], [s.specDir, path.join(s.dir, 'extra')]);
    s.write('web.yaml', container('web', sleeper()));
    await c.waitRow('web', (r) => r.phase === 'Running', 'Running');
    await c.waitRow('db', (r) => r.phase === 'Running', 'Running');
    await c.waitReady();

    assert.deepEqual(await c.http('/healthz'), { status: 200, body: 'ok\n', type: 'text/plain; charset=utf-8' });
    assert.equal((await c.http('/readyz')).status, 200);
    const metrics = await c.http('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain/);
    assert.match(metrics.body, /^converge_actions_total\{action="create"\} 2$/m);
    assert.match(metrics.body, /^converge_reconciles_total\{result="ok"\} \d+$/m);
    assert.match(metrics.body, /^converge_containers\{phase="Running"\} 2$/m);
    assert.match(metrics.body, /^process_cpu_seconds_total \d/m);
    assert.equal((await c.http('/nothere')).status, 404);
    const post = await fetch(`http://${c.listen}/v1/status`, { method: 'POST' });
    assert.equal(post.status, 405);
    await post.text();
  });
});
