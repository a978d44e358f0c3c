// Table tests of the policy: every level against every field a spec can ask the host for,
// globs over origins and which rule decides, bind sources resolved through ".." and
// symlinks before they meet a prefix, the policy file's errors, and the gate the desired
// store sees (what a denial says, what an admitted container carries).

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { evaluate } from '../../src/policy/levels.js';
import { globRegExp, matchGlob, namesOf } from '../../src/policy/glob.js';
import { isUnder, resolveHostPath } from '../../src/policy/paths.js';
import { PolicyError, loadPolicyFile, parsePolicy } from '../../src/policy/file.js';
import { DEFAULT_POLICY, admit, createGate, decide } from '../../src/policy/gate.js';
import { formatProblem } from '../../src/spec/load.js';
import type { Allow, Level, Policy } from '../../src/policy/types.js';
import type { ContainerSpecBody } from '../../src/spec/types.js';
import { desired } from '../harness/specs.js';

/** Resolution without a file system: ".." taken lexically, no symlinks (the path tests use a real file system). */
const asWritten = (path: string) => ({ path: posix.normalize(path), exists: true });
const deniedPaths = (body: Partial<ContainerSpecBody>, level: Level, allow: Allow = {}) =>
  evaluate({ image: 'busybox', ...body }, { level, allow }, asWritten).denials.map((d) => d.path);

describe('levels x fields', () => {
  /** What restricted needs of every spec, so that a row shows only its own field's verdict. */
  const R = { securityContext: { runAsNonRoot: true, capabilities: { drop: ['ALL'] } } };
  const withR = (body: Partial<ContainerSpecBody>): Partial<ContainerSpecBody> => ({
    ...body,
    securityContext: {
      ...R.securityContext,
      ...body.securityContext,
      capabilities: { ...body.securityContext?.capabilities, drop: ['ALL', ...(body.securityContext?.capabilities?.drop ?? [])] },
    },
  });
  type Row = [name: string, body: Partial<ContainerSpecBody>, allow: Allow, baseline: string[], restricted: string[]];
  const rows: Row[] = [
    ['nothing asked', {}, {}, [], []],
    ['network none', { network: 'none' }, {}, [], []],
    ['network host', { network: 'host' }, {}, ['spec.network'], ['spec.network']],
    ['network host, allowed', { network: 'host' }, { hostNetwork: true }, [], []],
    ['network host, hostNetwork: false', { network: 'host' }, { hostNetwork: false }, ['spec.network'], ['spec.network']],
    ['tmpfs mount', { mounts: [{ type: 'tmpfs', target: '/tmp' }] }, {}, [], []],
    ['bind mount, no prefix allowed', { mounts: [{ type: 'bind', source: '/srv/app', target: '/a', readOnly: true }] }, {}, ['spec.mounts[0].source'], ['spec.mounts[0].source']],
    ['bind mount under a prefix, read-only', { mounts: [{ type: 'bind', source: '/srv/app/data', target: '/a', readOnly: true }] }, { bindMounts: [{ pathPrefix: '/srv/app' }] }, [], []],
    ['bind mount of the prefix itself', { mounts: [{ type: 'bind', source: '/srv/app', target: '/a', readOnly: true }] }, { bindMounts: [{ pathPrefix: '/srv/app/' }] }, [], []],
    ['bind mount under a read-only prefix, writable', { mounts: [{ type: 'bind', source: '/srv/app/data', target: '/a' }] }, { bindMounts: [{ pathPrefix: '/srv/app' }] }, ['spec.mounts[0].readOnly'], ['spec.mounts[0].readOnly']],
    ['bind mount under a read-write prefix, writable', { mounts: [{ type: 'bind', source: '/srv/app/data', target: '/a' }] }, { bindMounts: [{ pathPrefix: '/srv/app', readWrite: true }] }, [], []],
    ['bind mount beside a prefix (/srv/application)', { mounts: [{ type: 'bind', source: '/srv/application', target: '/a', readOnly: true }] }, { bindMounts: [{ pathPrefix: '/srv/app' }] }, ['spec.mounts[0].source'], ['spec.mounts[0].source']],
    ['bind mount escaping with ..', { mounts: [{ type: 'bind', source: '/srv/app/../../etc', target: '/a', readOnly: true }] }, { bindMounts: [{ pathPrefix: '/srv/app' }] }, ['spec.mounts[0].source'], ['spec.mounts[0].source']],
    ['second mount denied, first allowed', { mounts: [{ type: 'tmpfs', target: '/t' }, { type: 'bind', source: '/etc', target: '/e', readOnly: true }] }, { bindMounts: [{ pathPrefix: '/srv' }] }, ['spec.mounts[1].source'], ['spec.mounts[1].source']],
    ['privileged: true', { securityContext: { privileged: true } }, { hostNetwork: true, capabilities: ['ALL'] }, ['spec.securityContext.privileged'], ['spec.securityContext.privileged']],
    ['privileged: false', { securityContext: { privileged: false } }, {}, [], []],
    ['add a default capability (CHOWN)', { securityContext: { capabilities: { add: ['CHOWN'] } } }, {}, [], ['spec.securityContext.capabilities.add[0]']],
    ['add NET_BIND_SERVICE', { securityContext: { capabilities: { add: ['NET_BIND_SERVICE'] } } }, {}, [], []],
    ['add SYS_ADMIN', { securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }, {}, ['spec.securityContext.capabilities.add[0]'], ['spec.securityContext.capabilities.add[0]']],
    ['add SYS_ADMIN, allowed as CAP_SYS_ADMIN', { securityContext: { capabilities: { add: ['sys_admin'] } } }, { capabilities: ['CAP_SYS_ADMIN'] }, [], []],
    ['add ALL', { securityContext: { capabilities: { add: ['ALL'] } } }, { capabilities: ['SYS_ADMIN'] }, ['spec.securityContext.capabilities.add[0]'], ['spec.securityContext.capabilities.add[0]']],
    ['add anything, ALL allowed', { securityContext: { capabilities: { add: ['NET_ADMIN', 'SYS_TIME'] } } }, { capabilities: ['ALL'] }, [], []],
    ['drop a capability', { securityContext: { capabilities: { drop: ['NET_RAW'] } } }, {}, [], []],
    ['readOnlyRootFilesystem', { securityContext: { readOnlyRootFilesystem: true } }, {}, [], []],
    ['user, resources, env', { user: '1000:1000', resources: { limits: { memory: '64Mi' } }, env: [{ name: 'A', value: 'b' }] }, {}, [], []],
  ];
  for (const [name, body, allow, baseline, restricted] of rows) {
    it(`${name}: privileged allows; baseline denies [${baseline.join(', ')}]; restricted denies [${restricted.join(', ')}]`, () => {
      assert.deepEqual(deniedPaths(body, 'privileged', allow), []);
      assert.deepEqual(deniedPaths(body, 'baseline', allow), baseline);
      assert.deepEqual(deniedPaths(withR(body), 'restricted', allow), restricted);
    });
  }
  it('restricted also needs runAsNonRoot and drop ALL', () => {
    assert.deepEqual(deniedPaths({}, 'restricted'), ['spec.securityContext.runAsNonRoot', 'spec.securityContext.capabilities.drop']);
    assert.deepEqual(deniedPaths({ securityContext: { runAsNonRoot: false, capabilities: { drop: ['NET_RAW'] } } }, 'restricted'), ['spec.securityContext.runAsNonRoot', 'spec.securityContext.capabilities.drop']);
    assert.deepEqual(deniedPaths({ securityContext: { runAsNonRoot: true, capabilities: { drop: ['all'] } } }, 'restricted'), []);
  });
  it('messages say what is not allowed, at which level, and how a rule could allow it', () => {
    const denials = evaluate({ image: 'x', network: 'host', securityContext: { capabilities: { add: ['NET_ADMIN'] } } }, { level: 'baseline', allow: {} }, asWritten).denials;
    assert.match(denials[0].message, /network: host is not allowed at level baseline \(a rule may allow hostNetwork\)/);
    assert.match(denials[1].message, /adding NET_ADMIN \(beyond containerd's default set\) is not allowed at level baseline/);
  });
});

describe('globs over origins', () => {
  const cases: Array<[string, string, boolean]> = [
    ['git:https://git.example.com/*', 'git:https://git.example.com/fleet.git', true],
    ['git:https://git.example.com/*', 'git:https://git.example.com/org/fleet.git', false],
    ['git:https://git.example.com/**', 'git:https://git.example.com/org/fleet.git', true],
    ['git:https://git.example.com/*', 'git:https://git.example.com.evil.org/fleet.git', false],
    ['dir:/etc/converge/untrusted/*', 'dir:/etc/converge/untrusted/web.yaml', true],
    ['dir:/etc/converge/untrusted/*', 'dir:/etc/converge/untrusted', false],
    ['dir:/etc/converge/*', 'dir:/etc/converge/untrusted/web.yaml', false],
    ['kube:team-?', 'kube:team-a', true],
    ['kube:team-?', 'kube:team-ab', false],
    ['kube:*', 'kube:anything', true],
    ['dir:/a.b', 'dir:/axb', false],
    ['dir:/(x)+[y]', 'dir:/(x)+[y]', true],
  ];
  for (const [glob, text, want] of cases) it(`${glob} ${want ? 'matches' : 'does not match'} ${text}`, () => assert.equal(matchGlob(glob, text), want));
  it('a glob matches the whole name, not a part of it', () => {
    assert.equal(globRegExp('dir:/srv').test('dir:/srv/x'), false);
  });
  it('the names of a spec: origin, source, and for Kubernetes its namespace', () => {
    assert.deepEqual(namesOf('dir:/srv/specs/web.yaml', 'dir:/srv/specs'), ['dir:/srv/specs/web.yaml', 'dir:/srv/specs']);
    assert.deepEqual(namesOf('git:https://g/x.git:a/b.yaml', 'git:https://g/x.git'), ['git:https://g/x.git:a/b.yaml', 'git:https://g/x.git']);
    assert.deepEqual(namesOf('kube:team-a/web', 'kube'), ['kube:team-a/web', 'kube', 'kube:team-a']);
  });
});

describe('which rule decides', () => {
  const policy: Policy = {
    file: '/etc/converge/policy.yaml',
    rules: [
      { sources: ['git:https://git.example.com/ops/**'], level: 'privileged' },
      { sources: ['git:https://git.example.com/**', 'kube:team-*'], level: 'restricted' },
      { sources: ['dir:/srv/untrusted'], level: 'baseline', allow: { hostNetwork: true } },
    ],
  };
  const cases: Array<[string, string, string, Level, RegExp]> = [
    ['git, first rule', 'git:https://git.example.com/ops/fleet.git:a.yaml', 'git:https://git.example.com/ops/fleet.git', 'privileged', /^rule 1 of \/etc\/converge\/policy\.yaml \(sources git:https:\/\/git\.example\.com\/ops\/\*\*; level privileged\)$/],
    ['git, the first that matches wins over a later one', 'git:https://git.example.com/dev/x.git:a.yaml', 'git:https://git.example.com/dev/x.git', 'restricted', /^rule 2 /],
    ['kube namespace', 'kube:team-a/web', 'kube', 'restricted', /^rule 2 /],
    ['dir by its directory', 'dir:/srv/untrusted/web.yaml', 'dir:/srv/untrusted', 'baseline', /^rule 3 /],
    ['dir: default privileged', 'dir:/etc/converge/web.yaml', 'dir:/etc/converge', 'privileged', /^the default for dir: sources \(level privileged\)$/],
    ['git: default baseline', 'git:https://other.example/x.git:a.yaml', 'git:https://other.example/x.git', 'baseline', /^the default for git: sources/],
    ['kube: default baseline', 'kube:default/web', 'kube', 'baseline', /^the default for kube: sources/],
  ];
  for (const [name, origin, source, level, rule] of cases) {
    it(name, () => {
      const d = decide(policy, origin, source);
      assert.equal(d.level, level);
      assert.match(d.rule, rule);
    });
  }
  it('without a policy file: the defaults', () => {
    assert.equal(decide(DEFAULT_POLICY, 'dir:/a/b.yaml', 'dir:/a').level, 'privileged');
    assert.equal(decide(DEFAULT_POLICY, 'kube:x/y', 'kube').level, 'baseline');
  });
});

describe('bind sources resolved before the prefix check', () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'converge-paths-')));
  after(() => rmSync(root, { recursive: true, force: true }));
  const app = join(root, 'srv', 'app');
  mkdirSync(join(app, 'data'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  writeFileSync(join(root, 'etc', 'shadow'), 'secret');
  symlinkSync(join(root, 'etc'), join(app, 'to-etc')); // leaves the prefix
  symlinkSync('data', join(app, 'to-data')); // stays inside
  symlinkSync(join(root, 'etc', 'nothing-yet'), join(app, 'dangling')); // leaves, target missing
  symlinkSync('to-etc/..', join(app, 'up')); // ".." of a symlinked dir is the target's parent
  symlinkSync('loop-b', join(app, 'loop-a'));
  symlinkSync('loop-a', join(app, 'loop-b'));
  symlinkSync(app, join(root, 'app-link')); // the prefix itself behind a link

  const cases: Array<[string, string, boolean]> = [
    ['a plain directory', `${app}/data`, true],
    ['.. that stays inside', `${app}/data/../data`, true],
    ['.. out of the prefix', `${app}/../../etc/shadow`, false],
    ['.. out, then back in by name', `${app}/../app/data`, true],
    ['a symlink inside the prefix', `${app}/to-data`, true],
    ['a symlink that leaves the prefix', `${app}/to-etc`, false],
    ['a file below a symlink that leaves', `${app}/to-etc/shadow`, false],
    ['a missing path below a symlink that leaves', `${app}/to-etc/not/there`, false],
    ['a dangling symlink that points out', `${app}/dangling`, false],
    ['.. taken from the link target, not the written path', `${app}/to-etc/../srv/app/data`, true],
    ['a link whose target ends in ..', `${app}/up/etc`, false],
    ['a missing path inside the prefix', `${app}/data/new/dir`, true],
    ['a missing path, .. out of the prefix', `${app}/new/../../../etc`, false],
    ['a symlink loop', `${app}/loop-a`, false],
    ['the prefix written through a link to it', `${root}/app-link/data`, true],
  ];
  for (const [name, source, allowed] of cases) {
    it(`${name}: ${allowed ? 'allowed' : 'refused'}`, () => {
      const v = evaluate(
        { image: 'x', mounts: [{ type: 'bind', source, target: '/m', readOnly: true }] },
        { level: 'baseline', allow: { bindMounts: [{ pathPrefix: app }] } },
      );
      assert.deepEqual(v.denials.map((d) => d.path), allowed ? [] : ['spec.mounts[0].source'], JSON.stringify(v.denials));
    });
  }
  it('a prefix written through a symlink is resolved too', () => {
    const v = evaluate({ image: 'x', mounts: [{ type: 'bind', source: `${app}/data`, target: '/m', readOnly: true }] }, { level: 'baseline', allow: { bindMounts: [{ pathPrefix: `${root}/app-link` }] } });
    assert.deepEqual(v.denials, []);
  });
  it('resolution: the real path, whether it exists, and why it gave up', () => {
    assert.deepEqual(resolveHostPath(`${app}/to-data/x`), { path: `${app}/data/x`, exists: false });
    assert.deepEqual(resolveHostPath(`${app}/to-etc/shadow`), { path: `${root}/etc/shadow`, exists: true });
    assert.deepEqual(resolveHostPath('/../..'), { path: '/', exists: true });
    assert.match(resolveHostPath(`${app}/loop-a`).error ?? '', /more than 40 symbolic links/);
  });
  it('the message shows where a source really leads', () => {
    const v = evaluate({ image: 'x', mounts: [{ type: 'bind', source: `${app}/to-etc`, target: '/m', readOnly: true }] }, { level: 'baseline', allow: { bindMounts: [{ pathPrefix: app }] } });
    assert.match(v.denials[0].message, new RegExp(`which resolves to '${root}/etc'.*outside every allowed bind mount prefix`));
    assert.deepEqual(v.bindSources, [`${root}/etc`]);
  });
  it('isUnder: whole segments only', () => {
    assert.equal(isUnder('/srv/app', '/srv/app'), true);
    assert.equal(isUnder('/srv/app/x', '/srv/app/'), true);
    assert.equal(isUnder('/srv/application', '/srv/app'), false);
    assert.equal(isUnder('/anything', '/'), true);
  });
});

describe('the policy file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'converge-policy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const good = [
    'apiVersion: converge.dev/v1alpha1',
    'kind: Policy',
    'rules:',
    '  - sources: ["git:https://git.example.com/*"]',
    '    level: baseline',
    '    allow:',
    '      hostNetwork: false',
    '      bindMounts: [{pathPrefix: /srv/app, readWrite: false}]',
    '      capabilities: [NET_BIND_SERVICE]',
    '',
  ].join('\n');
  it('the example of DESIGN.md loads', () => {
    const p = parsePolicy('policy.yaml', good);
    assert.deepEqual(p.rules, [{ sources: ['git:https://git.example.com/*'], level: 'baseline', allow: { hostNetwork: false, bindMounts: [{ pathPrefix: '/srv/app', readWrite: false }], capabilities: ['NET_BIND_SERVICE'] } }]);
    assert.equal(p.file, 'policy.yaml');
  });
  const bad: Array<[string, string, RegExp]> = [
    ['a misspelt field, with its line', good.replace('    level: baseline', '    levle: baseline'), /^policy\.yaml: line 4: rules\[0\]\.level: is required; .*line 5: rules\[0\]: unknown field 'levle' \(did you mean 'level'\?\)/],
    ['an unknown level', good.replace('level: baseline', 'level: lax'), /line 5: rules\[0\]\.level: must be one of privileged, baseline, restricted/],
    ['a source that is not an origin', good.replace('["git:https://git.example.com/*"]', '["https://git.example.com/*"]'), /rules\[0\]\.sources\[0\]: must be a glob over origins starting with dir:, git: or kube/],
    ['a relative prefix', good.replace('pathPrefix: /srv/app', 'pathPrefix: srv/app'), /rules\[0\]\.allow\.bindMounts\[0\]\.pathPrefix: must be an absolute path/],
    ['an unknown capability', good.replace('[NET_BIND_SERVICE]', '[NET_BIND_SERVICE, SYS_FOO]'), /line 9: rules\[0\]\.allow\.capabilities\[1\]: unknown capability 'SYS_FOO'/],
    ['the wrong kind', good.replace('kind: Policy', 'kind: Container'), /line 2: kind: must be one of Policy/],
    ['two documents', `${good}---\n${good}`, /must hold exactly one Policy document, found 2/],
    ['not YAML', 'rules: [', /policy\.yaml/],
  ];
  for (const [name, text, message] of bad) {
    it(`refused: ${name}`, () => {
      assert.throws(() => parsePolicy('policy.yaml', text), (err: unknown) => {
        assert.ok(err instanceof PolicyError && err.code === 'POLICY_INVALID');
        assert.match(err.problems.map(formatProblem).join('; '), message);
        return true;
      });
    });
  }
  it('read from disk: a missing file and a FIFO are errors, not hangs', async () => {
    writeFileSync(join(dir, 'p.yaml'), good);
    assert.equal((await loadPolicyFile(join(dir, 'p.yaml'))).rules.length, 1);
    await assert.rejects(loadPolicyFile(join(dir, 'missing.yaml')), PolicyError);
    await assert.rejects(loadPolicyFile(dir), /a directory/);
  });
});

describe('the gate', () => {
  const policy: Policy = { file: 'policy.yaml', rules: [{ sources: ['git:**'], level: 'baseline', allow: { bindMounts: [{ pathPrefix: '/srv/app' }] } }] };
  it('a denial names the file, the field, the rule and the commit', () => {
    const c = { ...desired('web', { network: 'host' }, 'h1', 'git:https://g/x.git:specs/web.yaml'), revision: '0123456789abcdef0123' };
    const a = admit(policy, c, 'git:https://g/x.git', (p) => ({ path: p, exists: true }));
    assert.equal(a.ok, false);
    if (a.ok) return;
    assert.deepEqual(a.problems.map(formatProblem), [
      "https://g/x.git:specs/web.yaml: spec.network: network: host is not allowed at level baseline (a rule may allow hostNetwork); denied by rule 1 of policy.yaml (sources git:**; level baseline) (commit 0123456789ab)",
    ]);
  });
  it('an admitted container carries its resolved bind sources; one without binds is passed as is', () => {
    const c = desired('web', { mounts: [{ type: 'tmpfs', target: '/t' }, { type: 'bind', source: '/srv/app/x/../y', target: '/y', readOnly: true }] }, 'h1', 'git:https://g/x.git:web.yaml');
    const a = admit(policy, c, 'git:https://g/x.git', (p) => ({ path: p.replace('/x/..', ''), exists: true }));
    assert.ok(a.ok);
    if (!a.ok) return;
    assert.deepEqual(a.container.bindSources, [undefined, '/srv/app/y']);
    assert.equal(a.container.hash, c.hash, 'the hash is the spec\'s, whatever the resolution');
    const plain = desired('api', {}, 'h1', 'git:https://g/x.git:api.yaml');
    assert.equal((admit(policy, plain, 'git:https://g/x.git') as { container: unknown }).container, plain);
  });
  it('a directory source is privileged by default: anything goes, sources as written', () => {
    const c = desired('web', { network: 'host', securityContext: { privileged: true }, mounts: [{ type: 'bind', source: '/', target: '/host' }] });
    const a = admit(DEFAULT_POLICY, c, 'dir:/specs');
    assert.ok(a.ok && a.container === c);
  });
  it('--allow-empty globs over source names', () => {
    const gate = createGate({ policy: DEFAULT_POLICY, allowEmpty: ['dir:/srv/**', 'kube:*'] });
    assert.equal(gate.allowEmpty('dir:/srv/specs'), true);
    assert.equal(gate.allowEmpty('dir:/etc/converge'), false);
    assert.equal(gate.allowEmpty('kube'), true);
    assert.equal(gate.allowEmpty('git:https://g/x.git'), false);
    assert.equal(createGate({ policy: DEFAULT_POLICY }).allowEmpty('dir:/srv/specs'), false);
  });
});
