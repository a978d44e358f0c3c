// The OCI spec builder against the real runc of this machine (no containerd): proves the
// JSON is a spec runc accepts, and that the namespaces, mounts and limits it describes are
// what the process sees. Needs root, runc and /bin/busybox, as every integration test does.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSpec, detectCgroupVersion, readHostCapabilities, readHostRlimits } from '../../src/containerd/oci.js';
import { ociInput as input } from '../harness/specs.js';

describe('runc runs the built spec', () => {
  const base = mkdtempSync(join(tmpdir(), 'converge-oci-'));
  const runcRoot = join(base, 'runc');
  const namespace = `converge-oci-test-${process.pid}`;
  let n = 0;

  /** A bundle whose rootfs is busybox with a link per applet, plus the given files. */
  function bundle(spec: Record<string, unknown>, files: Record<string, string> = {}): string {
    const dir = join(base, `bundle-${++n}`);
    const bin = join(dir, 'rootfs', 'bin');
    mkdirSync(bin, { recursive: true });
    copyFileSync('/bin/busybox', join(bin, 'busybox'));
    chmodSync(join(bin, 'busybox'), 0o755);
    // `busybox --install -s` links to the host path of the binary; relative links work inside.
    const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const applet of applets) if (applet !== 'busybox') symlinkSync('busybox', join(bin, applet));
    for (const [path, text] of Object.entries(files)) writeFileSync(join(dir, 'rootfs', path), text);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    return dir;
  }

  function run(dir: string, id: string): { status: number | null; stdout: string; stderr: string } {
    try {
      const r = spawnSync('runc', ['--root', runcRoot, 'run', '--bundle', dir, id], { encoding: 'utf8', timeout: 60_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    } finally {
      spawnSync('runc', ['--root', runcRoot, 'delete', '--force', id], { encoding: 'utf8' });
    }
  }

  const fields = (stdout: string) => Object.fromEntries(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

  after(() => {
    // runc leaves the parent cgroup (our "namespace") behind in every hierarchy.
    for (const hierarchy of readdirSync('/sys/fs/cgroup')) {
      try { rmdirSync(join('/sys/fs/cgroup', hierarchy, namespace)); } catch { /* not created there */ }
    }
    try { rmdirSync(join('/sys/fs/cgroup', namespace)); } catch { /* cgroup v1 */ }
    rmSync(base, { recursive: true, force: true });
  });

  const cgroupVersion = detectCgroupVersion();
  const hostRlimits = readHostRlimits();

  it('runs /bin/true', () => {
    const id = `true-${process.pid}`;
    const spec = buildSpec({ ...input({ args: ['/bin/true'] }, {}), id, containerdNamespace: namespace, cgroupVersion, hostRlimits });
    const r = run(bundle(spec), id);
    assert.equal(r.status, 0, r.stderr);
  });

  it('network none, user, env, rlimits, mounts and limits are applied', () => {
    const id = `check-${process.pid}`;
    const data = join(base, 'data');
    mkdirSync(join(data, 'rw'), { recursive: true, mode: 0o777 });
    chmodSync(join(data, 'rw'), 0o777);
    const script = [
      'echo "ifaces=$(grep -c : /proc/net/dev)"',
      'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)"',
      'echo "nofile=$(ulimit -n)/$(ulimit -Hn)"',
      'echo "hostname=$(hostname) HOSTNAME=$HOSTNAME GREETING=$GREETING cwd=$(pwd)"',
      'echo "mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"',
      'echo "quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max)"',
      'echo "pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"',
      'echo "scratch=$(df -k /scratch | tail -n 1 | awk \'{print $2}\')"',
      'touch /ro/x 2>/dev/null && echo ro=writable || echo ro=readonly',
      'touch /rw/x 2>/dev/null && echo rw=writable || echo rw=readonly',
      'echo "masked=$(wc -c < /proc/timer_list)"', // one of the masked paths this kernel has
      'echo "procsys=$(touch /proc/sys/kernel/hostname 2>/dev/null && echo writable || echo readonly)"',
    ].join('\n');
    const spec = buildSpec({
      ...input({
        command: ['/bin/sh', '/check.sh'], hostname: 'checker', workingDir: '/tmp', env: [{ name: 'GREETING', value: 'hi' }],
        resources: { limits: { memory: '64Mi', cpu: '500m', pids: 64 } },
        mounts: [
          { type: 'bind', source: data, target: '/ro', readOnly: true },
          { type: 'bind', source: join(data, 'rw'), target: '/rw' },
          { type: 'tmpfs', target: '/scratch', sizeLimit: '16Mi' },
          { type: 'tmpfs', target: '/tmp' },
        ],
      }, { Cmd: ['ignored'] }),
      id, containerdNamespace: namespace, cgroupVersion, hostRlimits, user: { uid: 1000, gid: 1000, additionalGids: [2000] },
    });
    const r = run(bundle(spec, { 'check.sh': script }), id);
    assert.equal(r.status, 0, r.stderr);
    const got = fields(r.stdout);
    assert.deepEqual(got, {
      ifaces: '1', // loopback only
      uid: '1000 gid=1000 groups=1000 2000',
      nofile: '1024/1024',
      hostname: 'checker HOSTNAME=checker GREETING=hi cwd=/tmp',
      mem: '67108864',
      quota: '50000',
      pids: '64',
      scratch: '16384',
      ro: 'readonly',
      rw: 'writable',
      masked: '0',
      procsys: 'readonly',
    }, r.stdout + r.stderr);
    assert.ok(existsSync(join(data, 'rw', 'x')), 'the rw bind mount wrote through to the host');
  });

  it('network host: the host\'s interfaces, resolv.conf and hosts, read-only', () => {
    const id = `host-${process.pid}`;
    const script = [
      'echo "ifaces=$(grep : /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\\n" ,)"',
      'echo "resolv=$(md5sum < /etc/resolv.conf)"',
      'echo "hosts=$(md5sum < /etc/hosts)"',
      'touch /etc/resolv.conf 2>/dev/null && echo write=writable || echo write=readonly',
    ].join('\n');
    const spec = buildSpec({ ...input({ command: ['/bin/sh', '/check.sh'], network: 'host' }), id, containerdNamespace: namespace, cgroupVersion, hostRlimits });
    // Other test files make and remove bridges and veths meanwhile: the host's interfaces
    // there both before and after the run must all be seen inside.
    const hostIfaces = () => readFileSync('/proc/net/dev', 'utf8').split('\n').filter((l) => l.includes(':')).map((l) => l.split(':')[0].trim());
    const before = hostIfaces();
    const r = run(bundle(spec, { 'check.sh': script }), id);
    const after = new Set(hostIfaces());
    assert.equal(r.status, 0, r.stderr);
    const md5 = (path: string) => execFileSync('/bin/busybox', ['md5sum'], { input: readFileSync(path), encoding: 'utf8' }).trim();
    const { ifaces, ...rest } = fields(r.stdout);
    const inside = new Set(ifaces.split(',').filter(Boolean));
    const stable = before.filter((i) => after.has(i));
    assert.ok(stable.length > 1, `the host has interfaces besides lo: ${stable.join(' ')}`);
    assert.deepEqual(stable.filter((i) => !inside.has(i)), [], `host interfaces missing inside: ${r.stdout}`);
    assert.deepEqual(rest, { resolv: md5('/etc/resolv.conf'), hosts: md5('/etc/hosts'), write: 'readonly' }, r.stdout + r.stderr);
  });
  it('confinement: seccomp and noNewPrivileges, capabilities, a read-only root, nosuid binds; privileged has none of it', () => {
    const data = join(base, 'suid');
    mkdirSync(data, { recursive: true });
    const script = [
      'echo "seccomp=$(grep ^Seccomp: /proc/self/status | cut -f2)"',
      'echo "nnp=$(grep ^NoNewPrivs: /proc/self/status | cut -f2)"',
      'echo "capbnd=$(grep ^CapBnd: /proc/self/status | cut -f2)"',
      // unshare(2) and mount(2) need CAP_SYS_ADMIN, which seccomp checks before the kernel does.
      'unshare -n true 2>/dev/null && echo unshare=allowed || echo unshare=denied',
      'touch /rootfile 2>/dev/null && echo root=writable || echo root=readonly',
      'echo "bind=$(grep " /data " /proc/self/mounts | grep -o nosuid,nodev)"',
    ].join('\n');
    const body = (securityContext: object) => ({
      command: ['/bin/sh', '/check.sh'], securityContext, mounts: [{ type: 'bind' as const, source: data, target: '/data' }],
    });
    const confined = buildSpec({
      ...input(body({ readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } })),
      id: `confined-${process.pid}`, containerdNamespace: namespace, cgroupVersion, hostRlimits,
    });
    let r = run(bundle(confined, { 'check.sh': script }), `confined-${process.pid}`);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(fields(r.stdout), {
      seccomp: '2', nnp: '1', capbnd: '0000000000000400', unshare: 'denied', root: 'readonly', bind: 'nosuid,nodev',
    }, r.stdout + r.stderr);

    const privileged = buildSpec({
      ...input(body({ privileged: true })), id: `priv-${process.pid}`, containerdNamespace: namespace, cgroupVersion, hostRlimits,
      hostCapabilities: readHostCapabilities(),
    });
    r = run(bundle(privileged, { 'check.sh': script }), `priv-${process.pid}`);
    assert.equal(r.status, 0, r.stderr);
    const got = fields(r.stdout);
    assert.deepEqual([got.seccomp, got.nnp, got.unshare, got.root, got.bind], ['0', '0', 'allowed', 'writable', ''], r.stdout + r.stderr);
  });
});
