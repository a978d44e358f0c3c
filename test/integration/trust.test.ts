// End to end: what converge refuses to do on a spec's say-so (DESIGN.md, Trust), against a
// real containerd: a denied spec beside a good one, bind sources that escape their prefix
// through ".." or a symlink, a policy changed by SIGHUP, seccomp and noNewPrivileges in a
// running task as the host sees it, a foreign container left alone, an emptied directory
// that prunes nothing, the grace period cap, and two converges with their own containerds
// and the same namespace side by side.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { cgroupParent } from '../../src/containerd/runc.js';
import { seccompProfile, type SeccompProfile } from '../../src/containerd/seccomp.js';
import { DEFAULT_CAPABILITIES } from '../../src/spec/capabilities.js';
import { importBusybox } from '../harness/image.js';
import { cli, container, Converge, Env, IMAGE, sleeper, waitFor, type Scenario } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

/** A policy file putting the scenario's own spec directory at `level`, with `allow`. */
function policy(s: Scenario, level: string, allow: Record<string, unknown> = {}, name = 'policy.yaml'): string {
  const file = path.join(s.dir, name);
  const doc = { apiVersion: 'converge.dev/v1alpha1', kind: 'Policy', rules: [{ sources: [`dir:${s.specDir}`], level, allow }] };
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

/** A field of /proc/<pid>/status of a task's process, read from the host. */
function procStatus(pid: number, field: string): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return line?.slice(field.length + 1).trim() ?? '';
}

const DENIED = 'spec denied by policy; nothing of it runs but its file\'s last allowed specs';
const denialOf = (key: string) => (l: { msg: string; key?: string }) => l.msg === DENIED && l.key === key;

describe('converge run: trust', () => {
  it('a denied spec never reaches containerd; the good one beside it runs', async (t) => {
    const s = await env.scenario(t, 'deny');
    const c = await s.run(['--policy', policy(s, 'baseline')]);
    s.write('good.yaml', container('good', sleeper()));
    s.write('host.yaml', container('host', { ...sleeper(), network: 'host' }));
    await s.waitRunning('default.good', { converge: c });
    const denied = await c.waitLog(denialOf('default/host'), 'the denial');
    assert.match(String(denied.problems), /host\.yaml: spec\.network: network: host is not allowed at level baseline .*denied by rule 1 of .*policy\.yaml/);
    await c.waitReady();
    assert.deepEqual(await s.inContainerd('default.host'), { container: false, task: undefined, snapshot: false });
    assert.deepEqual(c.actions('default/host'), []);
    assert.equal(await c.row('host'), undefined);
  });

  it('bind sources that leave the allowed prefix through .. or a symlink are refused; one inside runs on its real path', async (t) => {
    const s = await env.scenario(t, 'bind');
    const allowed = path.join(s.dir, 'allowed');
    const secret = path.join(s.dir, 'secret');
    mkdirSync(path.join(allowed, 'data'), { recursive: true });
    mkdirSync(secret);
    writeFileSync(path.join(secret, 'key'), 'do not read');
    symlinkSync(secret, path.join(allowed, 'link'));
    symlinkSync('data', path.join(allowed, 'inner'));
    writeFileSync(path.join(allowed, 'data', 'hello'), 'hi from the host');
    const c = await s.run(['--policy', policy(s, 'baseline', { bindMounts: [{ pathPrefix: allowed }] })]);
    const bind = (source: string) => ({ ...sleeper(), mounts: [{ type: 'bind' as const, source, target: '/m', readOnly: true }] });
    s.write('dotdot.yaml', container('dotdot', bind(`${allowed}/../secret`)));
    s.write('symlink.yaml', container('symlink', bind(`${allowed}/link`)));
    s.write('inside.yaml', container('inside', { ...bind(`${allowed}/inner`), command: ['/bin/sh', '-c'], args: ['cat /m/hello; trap "exit 0" TERM; sleep 3600 & wait'] }));
    await s.waitRunning('default.inside', { converge: c });
    await waitFor(() => s.logOf('default.inside').includes('hi from the host'), { what: 'the allowed mount read' });
    const [dotdot] = await Promise.all([
      c.waitLog(denialOf('default/dotdot'), 'the .. denial'),
      c.waitLog(denialOf('default/symlink'), 'the symlink denial'),
    ]);
    assert.match(String(dotdot.problems), new RegExp(`spec\\.mounts\\[0\\]\\.source: '${allowed}/\\.\\./secret' \\(which resolves to '${secret}'\\) is outside every allowed bind mount prefix`));
    assert.match(String(c.find(denialOf('default/symlink'))[0].problems), new RegExp(`'${allowed}/link' \\(which resolves to '${secret}'\\)`));
    await c.waitReady();
    for (const id of ['default.dotdot', 'default.symlink']) assert.equal((await s.inContainerd(id)).container, false, id);
    // What was checked is what is mounted: the link's target, not the link.
    const info = JSON.parse(await s.ctr(['containers', 'info', 'default.inside'])) as { Spec: { mounts: Array<{ destination: string; source: string; options: string[] }> } };
    const m = info.Spec.mounts.find((x) => x.destination === '/m')!;
    assert.equal(m.source, path.join(allowed, 'data'));
    assert.ok(m.options.includes('nosuid') && m.options.includes('nodev'), m.options.join(','));
  });

  it('SIGHUP re-reads the policy: a looser one admits the denied spec without touching the others; a bad one is reported and kept out', async (t) => {
    const s = await env.scenario(t, 'hup');
    const file = policy(s, 'baseline');
    const c = await s.run(['--policy', file]);
    s.write('good.yaml', container('good', sleeper()));
    s.write('host.yaml', container('host', { ...sleeper(), network: 'host' }));
    const pid = await s.waitRunning('default.good', { converge: c });
    await c.waitLog(denialOf('default/host'), 'the denial');

    policy(s, 'baseline', { hostNetwork: true });
    c.child.kill('SIGHUP');
    await c.waitLog((l) => l.msg === 'policy re-read', 'the re-read');
    await s.waitRunning('default.host', { converge: c });
    assert.equal((await s.get('default.good'))?.task?.pid, pid, 'the unaffected container was not restarted');
    assert.deepEqual(c.actions('default/good').map((l) => l.action), ['create']);

    writeFileSync(file, 'apiVersion: converge.dev/v1alpha1\nkind: Policy\nrules:\n  - sources: [dir:/x]\n    level: lax\n');
    const since = c.lines.length;
    c.child.kill('SIGHUP');
    const bad = await c.waitLog((l) => l.msg === 'policy not re-read: keeping the one in force', 'the refusal', { since });
    assert.match(String(bad.problems), /line 5: rules\[0\]\.level: must be one of privileged, baseline, restricted/);
    assert.ok(c.running);
    assert.equal((await s.get('default.host'))?.task?.status, 'running');
  });

  it('a policy brought in by a restart of converge stops nothing that runs; the denied spec\'s next version waits', async (t) => {
    const s = await env.scenario(t, 'adopt');
    const first = await s.run();
    s.write('host.yaml', container('host', { ...sleeper('v1'), network: 'host' }));
    const pid = await s.waitRunning('default.host', { converge: first });
    await first.stop();
    const c = await s.run(['--policy', policy(s, 'baseline')]);
    await c.waitLog(denialOf('default/host'), 'the denial');
    await c.waitReady();
    assert.equal((await s.get('default.host'))?.task?.pid, pid, 'still the same task');
    s.write('host.yaml', container('host', { ...sleeper('v2'), network: 'host' }));
    await c.waitLog((l) => denialOf('default/host')(l) && l !== c.find(denialOf('default/host'))[0], 'the new version denied');
    assert.equal((await s.get('default.host'))?.task?.pid, pid, 'the denied version did not replace it');
    assert.deepEqual(c.actions('default/host'), []);
  });

  it('a running task has the seccomp filter and noNewPrivileges; a privileged one has neither', async (t) => {
    const s = await env.scenario(t, 'seccomp');
    const c = await s.run(); // a directory source: privileged by default, so privileged: true is allowed
    s.write('plain.yaml', container('plain', sleeper()));
    s.write('priv.yaml', container('priv', { ...sleeper(), securityContext: { privileged: true } }));
    const plain = await s.waitRunning('default.plain', { converge: c });
    const priv = await s.waitRunning('default.priv', { converge: c });
    assert.deepEqual([procStatus(plain, 'Seccomp'), procStatus(plain, 'NoNewPrivs')], ['2', '1']);
    assert.deepEqual([procStatus(priv, 'Seccomp'), procStatus(priv, 'NoNewPrivs')], ['0', '0']);
    // The filter bites: unshare(2) is refused without CAP_SYS_ADMIN.
    const out = await s.ctr(['tasks', 'exec', '--exec-id', 'probe', 'default.plain', '/bin/sh', '-c', 'unshare -n true 2>&1; echo rc=$?']);
    assert.match(out, /rc=[1-9]/);
  });

  it('converge\'s seccomp profile says what containerd\'s default profile says, capability by capability', async (t) => {
    const s = await env.scenario(t, 'profile');
    const version = (await s.ctr(['version'])).match(/Server:[\s\S]*?Version:\s*v?(\S+)/)?.[1] ?? '';
    /** Per system call, the rules that mention it (action, errno, argument conditions). */
    const rules = (p: SeccompProfile): Map<string, Set<string>> => {
      const out = new Map<string, Set<string>>();
      for (const r of p.syscalls) {
        const sig = JSON.stringify([r.action, r.errnoRet ?? null, r.args ?? []]);
        for (const name of r.names) out.set(name, (out.get(name) ?? new Set()).add(sig));
      }
      return out;
    };
    const sets: Array<[string, string[]]> = [
      ['default', []],
      ['SYS_ADMIN', ['CAP_SYS_ADMIN']],
      ['SYS_PTRACE and SYS_TIME', ['CAP_SYS_PTRACE', 'CAP_SYS_TIME']],
      ['the rest', ['CAP_SYS_BOOT', 'CAP_SYS_MODULE', 'CAP_SYS_PACCT', 'CAP_SYS_RAWIO', 'CAP_SYS_TTY_CONFIG', 'CAP_SYS_NICE', 'CAP_SYSLOG', 'CAP_BPF', 'CAP_PERFMON']],
    ];
    for (const [i, [name, added]] of sets.entries()) {
      await s.ctr(['containers', 'create', '--seccomp', ...added.flatMap((c) => ['--cap-add', c]), IMAGE, `profile-${i}`]);
      const theirs = (JSON.parse(await s.ctr(['containers', 'info', `profile-${i}`])) as { Spec: { linux: { seccomp: SeccompProfile } } }).Spec.linux.seccomp;
      const ours = seccompProfile([...DEFAULT_CAPABILITIES, ...added]);
      assert.deepEqual(ours.architectures, theirs.architectures, name);
      assert.equal(ours.defaultAction, theirs.defaultAction, name);
      const [a, b] = [rules(ours), rules(theirs)];
      // A rule with argument conditions is no looser than an unconditional allow of the same call.
      const anyway = JSON.stringify(['SCMP_ACT_ALLOW', null, []]);
      const looser = [...a].flatMap(([call, sigs]) => [...sigs].filter((sig) => !b.get(call)?.has(sig) && !b.get(call)?.has(anyway)).map((sig) => `${call} ${sig}`));
      const missing = [...b].flatMap(([call, sigs]) => [...sigs].filter((sig) => !a.get(call)?.has(sig)).map((sig) => `${call} ${sig}`));
      assert.deepEqual(looser, [], `${name}: converge allows what containerd ${version} does not`);
      if (missing.length > 0) t.diagnostic(`${name}: containerd ${version} allows, converge does not: ${missing.join(', ')}`);
      // The facts were taken from containerd 1.6; a newer containerd may know newer system calls.
      // converge follows containerd 2.x's tightening everywhere: no io_uring, socket(2) only for
      // the address families 2.x allows, where 1.6 allowed both outright.
      const tightened = (entry: string): boolean => /^io_uring_(enter|register|setup) /.test(entry) || entry === 'socket ["SCMP_ACT_ALLOW",null,[]]';
      if (version.startsWith('1.6.')) assert.deepEqual(missing.filter((m) => !tightened(m)), [], `${name}: the same as containerd ${version}, but for 2.x's tightening`);
    }
  });

  it('a foreign running container is left alone: a conflict while its task runs, replaced once it is stale', async (t) => {
    const s = await env.scenario(t, 'foreign');
    await s.ctr(['run', '-d', IMAGE, 'default.web', 'sleep', '3600']);
    await s.ctr(['run', '-d', IMAGE, 'stranger', 'sleep', '3600']);
    const foreignPid = (await s.task('default.web'))!.pid;
    const c = await s.run(['--backoff-initial', '50ms']);
    s.write('web.yaml', container('web', sleeper()));
    s.write('db.yaml', container('db', sleeper()));
    await s.waitRunning('default.db', { converge: c });
    const row = await c.waitRow('web', (r) => r.phase === 'Conflict', 'a conflict');
    assert.match(row.message, /not made by converge .*left alone/);
    await c.waitLog((l) => l.msg === 'name held by a container converge did not make; leaving it alone' && l.key === 'default/web', 'the conflict logged');
    await c.waitReady();
    assert.equal((await s.task('default.web'))?.pid, foreignPid, 'its task still runs');
    assert.equal((await s.task('stranger'))?.status, 'running', 'the foreign orphan is not removed');
    assert.equal(await c.row('stranger'), undefined);

    // Its task ends: a stale object now, replaced by converge's own.
    await s.ctr(['tasks', 'kill', '-s', 'SIGKILL', 'default.web']);
    await s.waitRunning('default.web', { converge: c, notPid: foreignPid });
    assert.equal((await s.get('default.web'))?.managed, true);
    assert.equal((await s.task('stranger'))?.status, 'running');
  });

  it('an emptied directory prunes nothing and says so; removing some specs of one that keeps one prunes', async (t) => {
    const s = await env.scenario(t, 'empty');
    const c = await s.run(['--resync', '500ms']);
    s.write('a.yaml', container('a', sleeper()));
    s.write('b.yaml', container('b', sleeper()));
    const a = await s.waitRunning('default.a', { converge: c });
    await s.waitRunning('default.b', { converge: c });
    s.remove('a.yaml');
    s.remove('b.yaml');
    const held = await c.waitLog((l) => l.msg === 'source is empty; holding what it declared', 'the hold');
    assert.match(String(held.problem), /the source is empty .*2 container\(s\) it declared keep running.*--allow-empty/);
    await delay(1500); // three resyncs: a removal, were there one, takes milliseconds
    assert.equal((await s.get('default.a'))?.task?.pid, a, 'a still runs');
    assert.equal((await s.get('default.b'))?.task?.status, 'running');
    assert.deepEqual(c.find((l) => l.msg === 'applying action' && l.action === 'remove'), []);

    s.write('a.yaml', container('a', sleeper()));
    await c.waitLog((l) => l.msg === 'source has specs again', 'the release');
    await s.waitGone('default.b');
    assert.equal((await s.get('default.a'))?.task?.pid, a, 'the spec that came back did not restart a');
  });

  it('--max-grace-period caps terminationGracePeriodSeconds', async (t) => {
    const s = await env.scenario(t, 'grace');
    const c = await s.run(['--max-grace-period', '1s', '--allow-empty', `dir:${s.specDir}`]);
    s.write('stubborn.yaml', container('stubborn', { command: ['/bin/sh', '-c'], args: ['trap "" TERM; echo ignoring; sleep 3600'], terminationGracePeriodSeconds: 86400 }));
    await s.waitRunning('default.stubborn', { converge: c });
    await waitFor(() => s.logOf('default.stubborn').includes('ignoring'), { what: 'the trap set' });
    assert.equal((await s.get('default.stubborn'))?.labels['converge.dev/stop-grace-seconds'], '1');
    s.remove('stubborn.yaml');
    await s.waitGone('default.stubborn'); // 20 s: a day's grace period would never get there
    await c.waitLog((l) => l.msg === 'task did not stop in its grace period; killing it' && l.graceMs === 1000, 'the kill after 1 s');
  });

  it('validate --policy and plan show denials', async (t) => {
    const s = await env.scenario(t, 'cli');
    const file = policy(s, 'restricted');
    s.write('web.yaml', container('web', sleeper()));
    const v = await cli(['validate', '--policy', file, s.specDir]);
    assert.equal(v.code, 1);
    assert.match(v.stdout, /web\.yaml: spec\.securityContext\.runAsNonRoot: must be true at level restricted; denied by rule 1 of /);
    const p = await cli(['plan', '--dir', s.specDir, '--policy', file, '--containerd-address', env.address, '--namespace', s.namespace, '--state-dir', s.stateDir]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, /^denied: .*web\.yaml: spec\.securityContext\.capabilities\.drop: must include ALL at level restricted/m);
    assert.match(p.stdout, /nothing to do: converged/);
  });
});

describe('two converges side by side', () => {
  it('own containerds, the same namespace and name: removing one leaves the other running, each in its own cgroup', async (t) => {
    const second = await Env.start('converge-it-second-');
    let c2: Converge | undefined;
    t.after(async () => {
      await c2?.stop().catch(() => c2?.kill());
      await second.cleanup();
    });
    const s1 = await env.scenario(t, 'twin');
    // The same namespace name on the other containerd, with the image.
    await importBusybox(second.address, s1.namespace);
    const dir2 = path.join(s1.dir, 'second');
    mkdirSync(path.join(dir2, 'specs'), { recursive: true });
    mkdirSync(path.join(dir2, 'state'));
    const c1 = await s1.run(['--allow-empty', `dir:${s1.specDir}`]);
    c2 = await Converge.start({ dirs: [path.join(dir2, 'specs')], stateDir: path.join(dir2, 'state'), address: second.address, namespace: s1.namespace });
    s1.write('web.yaml', container('web', sleeper('one')));
    writeFileSync(path.join(dir2, 'specs', 'web.yaml'), JSON.stringify(container('web', sleeper('two'))));
    const pid1 = await s1.waitRunning('default.web', { converge: c1 });
    const other = c2;
    const pid2 = await waitFor(async () => {
      const rows = await other.status().catch(() => []);
      const r = rows.find((x) => x.name === 'web');
      return r?.phase === 'Running' && r.pid ? r.pid : undefined;
    }, { what: 'the second web running', detail: () => other.tail() });
    assert.notEqual(pid1, pid2);
    const cgroup = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    assert.ok(cgroup(pid1).includes(`${cgroupParent(env.address)}/${s1.namespace}/default.web`), cgroup(pid1));
    assert.ok(cgroup(pid2).includes(`${cgroupParent(second.address)}/${s1.namespace}/default.web`), cgroup(pid2));

    s1.remove('web.yaml');
    await s1.waitGone('default.web');
    assert.equal(procStatus(pid2, 'State').charAt(0) !== 'Z', true);
    const row = (await other.status()).find((x) => x.name === 'web');
    assert.deepEqual([row?.phase, row?.pid], ['Running', pid2], 'the other converge\'s container keeps running');
    assert.deepEqual(other.actions('default/web').map((l) => l.action), ['create']);
  });
});
