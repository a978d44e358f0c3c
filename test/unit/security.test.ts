// The pieces of a container's confinement that need no daemon: capability sets, the
// securityContext checks of the loader, and the seccomp profile converge builds. That a
// running task really is filtered is test/integration/trust.test.ts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, addedCapabilities, effectiveCapabilities, isCapability, normalizeCapability } from '../../src/spec/capabilities.js';
import { parseCapabilityMask } from '../../src/containerd/host.js';
import { ptraceIsSafe, seccompProfile, type SeccompProfile } from '../../src/containerd/seccomp.js';
import { validateDocument } from '../../src/spec/schema.js';
import { containerDoc } from '../harness/specs.js';

describe('capabilities', () => {
  it('every spelling normalises to CAP_X; ALL stays', () => {
    for (const name of ['net_admin', 'NET_ADMIN', 'CAP_NET_ADMIN', 'cap_net_admin']) assert.equal(normalizeCapability(name), 'CAP_NET_ADMIN');
    assert.equal(normalizeCapability('all'), 'ALL');
  });
  it('known names only', () => {
    assert.ok(isCapability('SYS_ADMIN') && isCapability('CAP_BPF') && isCapability('ALL'));
    assert.ok(!isCapability('SYS_FOO') && !isCapability('CAP_'));
    assert.equal(ALL_CAPABILITIES.length, 41);
    assert.ok(DEFAULT_CAPABILITIES.every((c) => (ALL_CAPABILITIES as readonly string[]).includes(c)));
  });
  it('the host\'s bounding set bounds ALL and privileged', () => {
    assert.deepEqual(parseCapabilityMask('0000000000000400'), ['CAP_NET_BIND_SERVICE']);
    const host = parseCapabilityMask('000001fffeffffff'); // a VM without CAP_SYS_RESOURCE
    assert.equal(host.length, 40);
    assert.ok(!host.includes('CAP_SYS_RESOURCE'));
    assert.deepEqual(effectiveCapabilities({ privileged: true }, host), host);
    assert.ok(!effectiveCapabilities({ capabilities: { add: ['ALL'] } }, host).includes('CAP_SYS_RESOURCE'));
  });
  it('add ALL gives every one, privileged too', () => {
    assert.equal(effectiveCapabilities({ capabilities: { add: ['ALL'] } }).length, 41);
    assert.equal(effectiveCapabilities({ privileged: true, capabilities: { drop: ['ALL'] } }).length, 41);
    assert.deepEqual(addedCapabilities({ capabilities: { add: ['ALL', 'chown'] } }), ['ALL']);
    assert.deepEqual(addedCapabilities({ capabilities: { add: ['chown', 'CAP_CHOWN'] } }), ['CAP_CHOWN']);
    assert.deepEqual(addedCapabilities(undefined), []);
  });
});

describe('securityContext validation', () => {
  const issues = (securityContext: unknown, extra: Record<string, unknown> = {}) =>
    validateDocument({ ...containerDoc('web'), spec: { image: 'busybox', securityContext, ...extra } });
  it('a full securityContext is valid', () => {
    assert.deepEqual(issues({ privileged: false, capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsNonRoot: true }), []);
  });
  const bad: Array<[string, unknown, Record<string, unknown>, string, RegExp]> = [
    ['unknown field', { priviledged: true }, {}, 'spec.securityContext', /unknown field 'priviledged' \(did you mean 'privileged'\?\)/],
    ['privileged not a boolean', { privileged: 'yes' }, {}, 'spec.securityContext.privileged', /true or false/],
    ['unknown capability', { capabilities: { add: ['SYS_FOO'] } }, {}, 'spec.securityContext.capabilities.add[0]', /unknown capability 'SYS_FOO'/],
    ['capability with a bad shape', { capabilities: { drop: ['NET ADMIN'] } }, {}, 'spec.securityContext.capabilities.drop[0]', /capability name/],
    ['added and dropped', { capabilities: { add: ['NET_ADMIN'], drop: ['cap_net_admin'] } }, {}, 'spec.securityContext.capabilities.drop[0]', /both added and dropped/],
    ['runAsNonRoot with user 0', { runAsNonRoot: true }, { user: '0:1000' }, 'spec.user', /root \(uid 0\)/],
  ];
  for (const [name, ctx, extra, path, message] of bad) {
    it(name, () => {
      const found = issues(ctx, extra);
      assert.ok(found.some((i) => i.path === path && message.test(i.message)), JSON.stringify(found));
    });
  }
  it('runAsNonRoot with a non-root or named user passes the loader', () => {
    assert.deepEqual(issues({ runAsNonRoot: true }, { user: '1000' }), []);
    assert.deepEqual(issues({ runAsNonRoot: true }, { user: 'app' }), []);
  });
});

describe('seccomp profile', () => {
  const allowed = (p: SeccompProfile, name: string) => p.syscalls.filter((r) => r.names.includes(name));
  const unconditional = (p: SeccompProfile, name: string) => allowed(p, name).some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args);
  const x64 = { arch: 'x64', kernel: '6.1.0-13-amd64' };

  it('denies by default with EPERM, for the host\'s architectures', () => {
    const p = seccompProfile(DEFAULT_CAPABILITIES, x64);
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
    assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(seccompProfile([], { arch: 'arm64', kernel: '6.1' }).architectures, ['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64']);
    assert.deepEqual(seccompProfile([], { arch: 'mips', kernel: '6.1' }).architectures, []);
  });
  it('the default set: ordinary calls allowed, namespaces and the host\'s knobs not', () => {
    const p = seccompProfile(DEFAULT_CAPABILITIES, x64);
    for (const name of ['read', 'write', 'openat', 'execve', 'chroot', 'arch_prctl', 'ptrace']) assert.ok(unconditional(p, name), name);
    for (const name of ['io_uring_setup', 'io_uring_enter', 'socket', 'mount', 'umount2', 'unshare', 'setns', 'reboot', 'init_module', 'kexec_load', 'bpf', 'open_by_handle_at', 'keyctl', 'add_key', 'userfaultfd', 'swapon', 'pivot_root']) {
      assert.ok(!unconditional(p, name), name);
    }
  });
  it('socket(2) for the families containerd 2.x allows: below AF_ALG, then one by one, never AF_ALG or AF_VSOCK', () => {
    const p = seccompProfile(DEFAULT_CAPABILITIES, x64);
    const rules = allowed(p, 'socket').map((r) => r.args);
    assert.deepEqual(rules[0], [{ index: 0, value: 38, op: 'SCMP_CMP_LT' }]);
    assert.deepEqual(rules.slice(1).map((a) => a![0].value), [39, 41, 42, 43, 44, 45]);
    assert.ok(!rules.some((a) => a![0].op === 'SCMP_CMP_EQ' && (a![0].value === 38 || a![0].value === 40)));
  });
  it('without SYS_ADMIN: clone without namespace flags only, clone3 answers ENOSYS', () => {
    const p = seccompProfile(DEFAULT_CAPABILITIES, x64);
    assert.deepEqual(allowed(p, 'clone'), [{ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, op: 'SCMP_CMP_MASKED_EQ' }] }]);
    assert.deepEqual(allowed(p, 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
    assert.equal(seccompProfile([], { arch: 's390x', kernel: '6.1' }).syscalls.find((r) => r.names[0] === 'clone')!.args![0].index, 1);
  });
  it('SYS_ADMIN unlocks mount, unshare, setns and plain clone and clone3', () => {
    const p = seccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], x64);
    for (const name of ['mount', 'unshare', 'setns', 'clone', 'clone3', 'sethostname']) assert.ok(unconditional(p, name), name);
    assert.ok(!allowed(p, 'clone3').some((r) => r.action === 'SCMP_ACT_ERRNO'));
  });
  const byCap: Array<[string, string[]]> = [
    ['CAP_SYS_BOOT', ['reboot']], ['CAP_SYS_MODULE', ['init_module', 'finit_module', 'delete_module']], ['CAP_SYS_PACCT', ['acct']],
    ['CAP_SYS_PTRACE', ['process_vm_readv', 'kcmp', 'pidfd_getfd']], ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
    ['CAP_SYS_TIME', ['settimeofday', 'clock_settime']], ['CAP_SYS_TTY_CONFIG', ['vhangup']], ['CAP_SYS_NICE', ['mbind']],
    ['CAP_SYSLOG', ['syslog']], ['CAP_BPF', ['bpf']], ['CAP_PERFMON', ['perf_event_open']],
  ];
  for (const [cap, names] of byCap) {
    it(`${cap} unlocks ${names.join(', ')}`, () => {
      for (const name of names) {
        assert.ok(!unconditional(seccompProfile(DEFAULT_CAPABILITIES, x64), name), `${name} without ${cap}`);
        assert.ok(unconditional(seccompProfile([...DEFAULT_CAPABILITIES, cap], x64), name), `${name} with ${cap}`);
      }
    });
  }
  it('dropping SYS_CHROOT takes chroot away', () => {
    assert.ok(!unconditional(seccompProfile(DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_SYS_CHROOT'), x64), 'chroot'));
  });
  it('personality: the listed personas only', () => {
    const p = seccompProfile([], x64);
    assert.deepEqual(allowed(p, 'personality').map((r) => r.args![0].value), [0, 8, 0x20000, 0x20008, 0xffffffff]);
    assert.ok(allowed(p, 'personality').every((r) => r.args![0].op === 'SCMP_CMP_EQ'));
  });
  it('ptrace only on kernels from 4.8', () => {
    assert.equal(ptraceIsSafe('4.7.10'), false);
    assert.equal(ptraceIsSafe('4.8.0'), true);
    assert.equal(ptraceIsSafe('3.19.0'), false);
    assert.equal(ptraceIsSafe('6.1.0-13-amd64'), true);
    assert.ok(!unconditional(seccompProfile([], { arch: 'x64', kernel: '4.4.0' }), 'ptrace'));
  });
  it('names no system call twice in one rule', () => {
    const p = seccompProfile([...ALL_CAPABILITIES], x64);
    for (const r of p.syscalls) assert.equal(new Set(r.names).size, r.names.length);
  });
});
