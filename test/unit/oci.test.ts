// Table tests of the OCI spec builder and its helpers: pure, no runc needed. That runc
// accepts the built spec and applies what it says is test/integration/oci.test.ts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerSpecBody, ImageConfig } from '../../src/spec/types.js';
import {
  DEFAULT_CAPABILITIES, DEFAULT_PATH, MASKED_PATHS, OciSpecError, READONLY_PATHS, buildSpec, detectCgroupVersion,
  parseProcLimits, parseUser, signalNumber, type OciInput, type OciMount,
} from '../../src/containerd/oci.js';
import { ociInput as input } from '../harness/specs.js';

type Spec = {
  process: { args: string[]; env: string[]; cwd: string; user: Record<string, unknown>; terminal: boolean; noNewPrivileges: boolean;
    capabilities: Record<string, string[]>; rlimits: Array<{ type: string; soft: number; hard: number }> };
  root: unknown; hostname: string; mounts: OciMount[]; ociVersion: string;
  linux: { resources: Record<string, any>; cgroupsPath: string; namespaces: Array<{ type: string }>; maskedPaths: string[]; readonlyPaths: string[] };
};
const build = (i: OciInput) => buildSpec(i) as unknown as Spec;
const mountAt = (s: Spec, dest: string) => s.mounts.filter((m) => m.destination === dest);

describe('buildSpec process.args (Kubernetes rules)', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['cmd-arg'] };
  const cases: Array<[string, Partial<ContainerSpecBody>, ImageConfig, string[]]> = [
    ['neither: Entrypoint + Cmd', {}, image, ['/entry', 'cmd-arg']],
    ['command only: image Cmd dropped', { command: ['/bin/app'] }, image, ['/bin/app']],
    ['args only: Entrypoint + args', { args: ['a', 'b'] }, image, ['/entry', 'a', 'b']],
    ['both: command + args', { command: ['/bin/app'], args: ['x'] }, image, ['/bin/app', 'x']],
    ['empty lists count as absent', { command: [], args: [] }, image, ['/entry', 'cmd-arg']],
    ['image Cmd only', {}, { Cmd: ['/bin/sh', '-c', 'x'] }, ['/bin/sh', '-c', 'x']],
    ['image Entrypoint only', {}, { Entrypoint: ['/e'] }, ['/e']],
    ['args without an Entrypoint', { args: ['/bin/true'] }, {}, ['/bin/true']],
  ];
  for (const [name, body, img, want] of cases) {
    it(name, () => assert.deepEqual(build(input(body, img)).process.args, want));
  }
  it('nothing to run -> NoCommand', () => {
    assert.throws(() => buildSpec(input({}, {})), (e: unknown) => e instanceof OciSpecError && e.code === 'NoCommand');
  });
});

describe('buildSpec process', () => {
  it('env: image first, spec overrides by name, PATH default, HOSTNAME', () => {
    const env = build(input({ env: [{ name: 'A', value: 'spec' }, { name: 'C', value: '3' }, { name: 'EMPTY' }] },
      { Cmd: ['x'], Env: ['A=image', 'B=2', 'BROKEN'] })).process.env;
    assert.deepEqual(env, [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=web', 'A=spec', 'B=2', 'C=3', 'EMPTY=']);
  });
  it('env: the image PATH wins over the default, the spec PATH over both', () => {
    assert.deepEqual(build(input({}, { Cmd: ['x'], Env: ['PATH=/img'] })).process.env, ['PATH=/img', 'HOSTNAME=web']);
    assert.equal(build(input({ env: [{ name: 'PATH', value: '/mine' }] }, { Cmd: ['x'], Env: ['PATH=/img'] })).process.env[0], 'PATH=/mine');
  });
  it('env: HOSTNAME follows spec.hostname', () => {
    const s = build(input({ hostname: 'box' }));
    assert.equal(s.hostname, 'box');
    assert.ok(s.process.env.includes('HOSTNAME=box'));
    assert.equal(build(input()).hostname, 'web');
  });
  const cwdCases: Array<[string | undefined, string | undefined, string]> = [
    ['/spec', '/image', '/spec'], [undefined, '/image', '/image'], [undefined, undefined, '/'], ['', '', '/'],
  ];
  for (const [spec, image, want] of cwdCases) {
    it(`cwd spec=${spec} image=${image} -> ${want}`, () => {
      assert.equal(build(input({ workingDir: spec }, { Cmd: ['x'], WorkingDir: image })).process.cwd, want);
    });
  }
  it('user, terminal, noNewPrivileges, capabilities', () => {
    const p = build(input({}, undefined, { user: { uid: 1000, gid: 100, additionalGids: [10, 20] } })).process;
    assert.deepEqual(p.user, { uid: 1000, gid: 100, additionalGids: [10, 20] });
    assert.deepEqual(build(input()).process.user, { uid: 0, gid: 0 });
    assert.equal(p.terminal, false);
    assert.equal(p.noNewPrivileges, true);
    assert.deepEqual(Object.keys(p.capabilities).sort(), ['bounding', 'effective', 'permitted']);
    for (const set of Object.values(p.capabilities)) assert.deepEqual(set, DEFAULT_CAPABILITIES);
    assert.equal(DEFAULT_CAPABILITIES.length, 14);
  });
  const rlimitCases: Array<[string, OciInput['hostRlimits'], number, number]> = [
    ['no host limits known', undefined, 1024, 1024],
    ['host hard above 1024', { RLIMIT_NOFILE: { soft: 1024, hard: 1048576 } }, 1024, 1024],
    ['host hard below 1024 caps both', { RLIMIT_NOFILE: { soft: 256, hard: 512 } }, 512, 512],
    ['host unlimited', { RLIMIT_NOFILE: { soft: Infinity, hard: Infinity } }, 1024, 1024],
    ['other limits ignored', { RLIMIT_NPROC: { soft: 1, hard: 1 } }, 1024, 1024],
  ];
  for (const [name, host, soft, hard] of rlimitCases) {
    it(`rlimit NOFILE: ${name}`, () => {
      assert.deepEqual(build(input({}, undefined, { hostRlimits: host })).process.rlimits, [{ type: 'RLIMIT_NOFILE', soft, hard }]);
    });
  }
});

describe('buildSpec mounts', () => {
  const defaults = ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup'];
  it('has the default set, in order, and root', () => {
    const s = build(input());
    assert.deepEqual(s.mounts.map((m) => m.destination), defaults);
    assert.deepEqual(mountAt(s, '/sys')[0].options.at(-1), 'ro');
    assert.deepEqual(s.root, { path: 'rootfs', readonly: false });
    assert.equal(s.ociVersion, '1.0.2-dev');
  });
  it('a spec mount replaces the default on the same destination, in place', () => {
    const s = build(input({ mounts: [{ type: 'tmpfs', target: '/dev/shm/', sizeLimit: '1Gi' }] }));
    assert.deepEqual(s.mounts.map((m) => m.destination), defaults);
    assert.deepEqual(mountAt(s, '/dev/shm'), [
      { destination: '/dev/shm', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'rw', `size=${2 ** 30}`, 'mode=1777'] },
    ]);
  });
  const bindCases: Array<[boolean | undefined, string]> = [[true, 'ro'], [false, 'rw'], [undefined, 'rw']];
  for (const [readOnly, mode] of bindCases) {
    it(`bind readOnly=${readOnly} -> ${mode}`, () => {
      const s = build(input({ mounts: [{ type: 'bind', source: '/srv/data', target: '/data', readOnly }] }));
      assert.deepEqual(s.mounts.at(-1), { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', mode, 'nosuid', 'nodev', 'rprivate'] });
    });
  }
  it('tmpfs with and without a size, read-only', () => {
    const s = build(input({ mounts: [{ type: 'tmpfs', target: '/tmp', sizeLimit: '16Mi' }, { type: 'tmpfs', target: '/cache', readOnly: true }] }));
    assert.deepEqual(mountAt(s, '/tmp')[0].options, ['nosuid', 'nodev', 'rw', 'size=16777216', 'mode=1777']);
    assert.deepEqual(mountAt(s, '/cache')[0].options, ['nosuid', 'nodev', 'ro', 'mode=1777']);
  });
  it('bad tmpfs size is a QuantityError', () => {
    assert.throws(() => buildSpec(input({ mounts: [{ type: 'tmpfs', target: '/tmp', sizeLimit: '16MB' }] })), { code: 'InvalidQuantity' });
  });
  it('relative and duplicate targets are InvalidMount', () => {
    assert.throws(() => buildSpec(input({ mounts: [{ type: 'tmpfs', target: 'tmp' }] })), { code: 'InvalidMount' });
    assert.throws(() => buildSpec(input({ mounts: [{ type: 'tmpfs', target: '/a' }, { type: 'tmpfs', target: '/a/' }] })), { code: 'InvalidMount' });
  });
});

describe('buildSpec network', () => {
  const types = (s: Spec) => s.linux.namespaces.map((n) => n.type);
  const hostFiles = ['/etc/resolv.conf', '/etc/hosts'];
  it('none (default): own network namespace, no host files', () => {
    for (const network of [undefined, 'none'] as const) {
      const s = build(input({ network }));
      assert.deepEqual(types(s), ['pid', 'ipc', 'uts', 'mount', 'network']);
      for (const f of hostFiles) assert.deepEqual(mountAt(s, f), []);
    }
  });
  it('host: no network namespace, host resolv.conf and hosts read-only', () => {
    const s = build(input({ network: 'host' }));
    assert.deepEqual(types(s), ['pid', 'ipc', 'uts', 'mount']);
    for (const f of hostFiles) assert.deepEqual(mountAt(s, f), [{ destination: f, type: 'bind', source: f, options: ['rbind', 'ro', 'nosuid', 'nodev', 'rprivate'] }]);
  });
  it('host: a spec mount on /etc/hosts replaces the host file', () => {
    const s = build(input({ network: 'host', mounts: [{ type: 'bind', source: '/my/hosts', target: '/etc/hosts' }] }));
    assert.deepEqual(mountAt(s, '/etc/hosts').map((m) => m.source), ['/my/hosts']);
  });
  it('cgroup v2 adds a cgroup namespace', () => {
    assert.deepEqual(types(build(input({}, undefined, { cgroupVersion: 2 }))), ['pid', 'ipc', 'uts', 'mount', 'network', 'cgroup']);
  });
  it('bridge: joins the network\'s namespace by path and mounts its name files read-only', () => {
    const network = { netns: '/state/network/netns/default.web', hosts: '/state/network/etc/default.web/hosts', resolv: '/state/network/etc/default.web/resolv.conf' };
    const s = build(input({ network: 'bridge' }, undefined, { network, cgroupVersion: 2 }));
    assert.deepEqual(s.linux.namespaces, [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }, { type: 'network', path: network.netns }]);
    const options = ['rbind', 'ro', 'nosuid', 'nodev', 'noexec', 'rprivate'];
    assert.deepEqual(mountAt(s, '/etc/hosts'), [{ destination: '/etc/hosts', type: 'bind', source: network.hosts, options }]);
    assert.deepEqual(mountAt(s, '/etc/resolv.conf'), [{ destination: '/etc/resolv.conf', type: 'bind', source: network.resolv, options }]);
  });
  it('bridge without a namespace from the network is NoNetwork', () => {
    assert.throws(() => build(input({ network: 'bridge' })), (e: OciSpecError) => e.code === 'NoNetwork');
  });
});

describe('buildSpec linux', () => {
  it('resources from limits', () => {
    const r = build(input({ resources: { limits: { memory: '64Mi', cpu: '500m', pids: 256 } } })).linux.resources;
    assert.deepEqual(r.memory, { limit: 67108864 });
    assert.deepEqual(r.cpu, { quota: 50000, period: 100000 });
    assert.deepEqual(r.pids, { limit: 256 });
  });
  const cpuCases: Array<[string | number, number]> = [[2, 200000], ['1.5', 150000], ['1m', 1000], ['0.001', 1000], ['100m', 10000]];
  for (const [cpu, quota] of cpuCases) {
    it(`cpu ${cpu} -> quota ${quota}`, () => {
      assert.deepEqual(build(input({ resources: { limits: { cpu } } })).linux.resources.cpu, { quota, period: 100000 });
    });
  }
  it('no limits -> only device rules', () => {
    const r = build(input()).linux.resources;
    assert.deepEqual(Object.keys(r), ['devices']);
    assert.deepEqual(r.devices[0], { allow: false, access: 'rwm' });
    const allowed = r.devices.slice(1).map((d: any) => `${d.type} ${d.major}:${d.minor ?? '*'} ${d.access}`);
    for (const dev of ['c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:2 rwm', 'c 136:* rwm']) {
      assert.ok(allowed.includes(dev), dev);
    }
    assert.ok(r.devices.slice(1).every((d: any) => d.allow === true));
  });
  it('cgroupsPath default and override', () => {
    assert.equal(build(input()).linux.cgroupsPath, '/converge/default.web');
    assert.equal(build(input({}, undefined, { cgroupsPath: 'system.slice:converge:x' })).linux.cgroupsPath, 'system.slice:converge:x');
  });
  it('masked and read-only paths are containerd\'s', () => {
    const l = build(input()).linux;
    assert.deepEqual(l.maskedPaths, MASKED_PATHS);
    assert.deepEqual(l.readonlyPaths, READONLY_PATHS);
    assert.ok(l.maskedPaths.includes('/proc/kcore') && l.readonlyPaths.includes('/proc/sys'));
  });
  it('has no process.oomScoreAdj, no annotations, no linux.devices (unless privileged)', () => {
    const s = buildSpec(input()) as any;
    assert.equal(s.process.oomScoreAdj, undefined);
    assert.equal(s.annotations, undefined);
    assert.equal(s.linux.devices, undefined);
  });
});

describe('buildSpec securityContext', () => {
  const caps = (body: Partial<ContainerSpecBody>) => build(input(body)).process.capabilities;
  const capCases: Array<[string, ContainerSpecBody['securityContext'], string[]]> = [
    ['none: containerd\'s default set', undefined, DEFAULT_CAPABILITIES],
    ['drop ALL, add NET_BIND_SERVICE', { capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } }, ['CAP_NET_BIND_SERVICE']],
    ['drop one by either spelling', { capabilities: { drop: ['net_raw', 'CAP_MKNOD'] } }, DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW' && c !== 'CAP_MKNOD')],
    ['add one beyond the default', { capabilities: { add: ['SYS_ADMIN'] } }, [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']],
    ['add one already there: no duplicate', { capabilities: { add: ['CHOWN'] } }, DEFAULT_CAPABILITIES],
    ['drop ALL alone: nothing', { capabilities: { drop: ['ALL'] } }, []],
  ];
  for (const [name, ctx, want] of capCases) {
    it(`capabilities: ${name}`, () => {
      const c = caps({ securityContext: ctx });
      for (const set of ['bounding', 'effective', 'permitted']) assert.deepEqual(c[set], want, set);
    });
  }
  it('privileged: every capability, no seccomp, no noNewPrivileges, /sys writable, all devices', () => {
    const dev = { path: '/dev/sda', type: 'b' as const, major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 };
    const s = buildSpec(input({ securityContext: { privileged: true } }, undefined, { hostDevices: [dev] })) as any;
    assert.equal(s.process.capabilities.bounding.length, 41);
    assert.ok(s.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
    assert.equal(s.process.noNewPrivileges, false);
    assert.equal(s.linux.seccomp, undefined);
    assert.deepEqual(s.linux.devices, [dev]);
    assert.deepEqual(s.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
    assert.deepEqual(s.linux.maskedPaths, []);
    assert.deepEqual(s.linux.readonlyPaths, []);
    assert.equal(mountAt(s, '/sys')[0].options.at(-1), 'rw');
    const bind = buildSpec(input({ securityContext: { privileged: true }, mounts: [{ type: 'bind', source: '/a', target: '/b' }] })) as any;
    assert.deepEqual(bind.mounts.at(-1).options, ['rbind', 'rw', 'rprivate']);
  });
  it('privileged: false is the same as absent', () => {
    assert.deepEqual(buildSpec(input({ securityContext: { privileged: false } })), buildSpec(input()));
  });
  it('every other container: seccomp and noNewPrivileges', () => {
    for (const ctx of [undefined, { capabilities: { add: ['ALL'] } }, { readOnlyRootFilesystem: true }]) {
      const s = buildSpec(input({ securityContext: ctx })) as any;
      assert.equal(s.process.noNewPrivileges, true);
      assert.equal(s.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
    }
  });
  it('readOnlyRootFilesystem makes the root read-only', () => {
    assert.deepEqual(build(input({ securityContext: { readOnlyRootFilesystem: true } })).root, { path: 'rootfs', readonly: true });
    assert.deepEqual(build(input({ securityContext: { readOnlyRootFilesystem: false } })).root, { path: 'rootfs', readonly: false });
  });
  it('runAsNonRoot refuses uid 0 and lets any other uid through', () => {
    assert.throws(() => buildSpec(input({ securityContext: { runAsNonRoot: true } })), { code: 'RunAsRoot' });
    assert.equal(build(input({ securityContext: { runAsNonRoot: true } }, undefined, { user: { uid: 1000, gid: 0 } })).process.user.uid, 1000);
    assert.equal(build(input({ securityContext: { runAsNonRoot: false } })).process.user.uid, 0);
  });
  it('bind sources the policy resolved replace the spec\'s', () => {
    const mounts = [{ type: 'bind' as const, source: '/srv/app/link', target: '/a' }, { type: 'bind' as const, source: '/srv/b', target: '/b' }];
    const s = build(input({ mounts }, undefined, { bindSources: ['/srv/app/real'] }));
    assert.deepEqual([mountAt(s, '/a')[0].source, mountAt(s, '/b')[0].source], ['/srv/app/real', '/srv/b']);
  });
});

describe('parseUser', () => {
  const cases: Array<[string, ReturnType<typeof parseUser>]> = [
    ['', {}],
    ['0', { uid: 0 }],
    ['1000', { uid: 1000 }],
    ['1000:100', { uid: 1000, gid: 100 }],
    ['app', { userName: 'app' }],
    ['app:staff', { userName: 'app', groupName: 'staff' }],
    ['1000:staff', { uid: 1000, groupName: 'staff' }],
    ['app:100', { userName: 'app', gid: 100 }],
    ['2147483647', { uid: 2147483647 }],
  ];
  for (const [text, want] of cases) it(JSON.stringify(text), () => assert.deepEqual(parseUser(text), want));
  for (const bad of ['a:b:c', ':100', '1000:', ':', '2147483648', '1:4294967295']) {
    it(`${JSON.stringify(bad)} -> InvalidUser`, () => assert.throws(() => parseUser(bad), { code: 'InvalidUser' }));
  }
});

describe('signalNumber', () => {
  const cases: Array<[string, number]> = [
    ['SIGTERM', 15], ['TERM', 15], ['15', 15], ['sigterm', 15], ['SIGKILL', 9], ['KILL', 9], ['SIGINT', 2], ['SIGHUP', 1],
    ['SIGQUIT', 3], ['SIGUSR1', 10], ['USR2', 12], ['SIGWINCH', 28], ['SIGSTOP', 19], ['SIGCHLD', 17], ['SIGIO', 29],
    ['SIGPWR', 30], ['SIGRTMIN', 34], ['SIGRTMIN+3', 37], ['RTMAX-1', 63], ['SIGRTMAX', 64], ['64', 64], ['1', 1],
  ];
  for (const [name, want] of cases) it(`${name} -> ${want}`, () => assert.equal(signalNumber(name), want));
  for (const bad of ['', 'SIG', 'SIGFOO', '0', '65', '-1', 'SIGTERM+1', 'RTMIN-1', 'RTMAX+1', '1.5', 'SIGRTMIN+31']) {
    it(`${JSON.stringify(bad)} -> InvalidSignal`, () => assert.throws(() => signalNumber(bad), { code: 'InvalidSignal' }));
  }
});

describe('host probes', () => {
  it('detectCgroupVersion: a cgroup.controllers file means v2, its absence v1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'converge-cg-'));
    assert.equal(detectCgroupVersion(dir), 1);
    writeFileSync(join(dir, 'cgroup.controllers'), 'cpu memory pids\n');
    assert.equal(detectCgroupVersion(dir), 2);
    assert.equal(detectCgroupVersion(join(dir, 'missing')), 1);
    rmSync(dir, { recursive: true });
  });
  it('parseProcLimits', () => {
    const text = [
      'Limit                     Soft Limit           Hard Limit           Units     ',
      'Max cpu time              unlimited            unlimited            seconds   ',
      'Max open files            1024                 524288               files     ',
      'Max processes             95000                95000                processes ',
    ].join('\n');
    assert.deepEqual(parseProcLimits(text), {
      RLIMIT_CPU: { soft: Infinity, hard: Infinity },
      RLIMIT_NOFILE: { soft: 1024, hard: 524288 },
      RLIMIT_NPROC: { soft: 95000, hard: 95000 },
    });
  });
});
