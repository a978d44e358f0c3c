// The committed manifests against a real kube-apiserver (test/harness/kube-cluster.ts) and
// the built kubectl: the CRD is accepted as a structural schema and agrees with converge's
// loader on what is valid; the DaemonSet and the examples pass the server's checks
// (--dry-run=server: nothing schedules them here); what converge writes on a status fits
// the CRD; and manifests/rbac.yaml + admission.yaml give the node agent's ServiceAccount
// what converge needs and no more.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import { buildContainerStatus } from '../../src/publish/kube/status.js';
import type { StatusRow } from '../../src/reconcile/status.js';
import { validateDocument } from '../../src/spec/schema.js';
import { KubeCluster } from '../harness/kube-cluster.js';
import { Kubectl } from '../harness/kube-tools.js';
import { ROOT, MANIFESTS, applyManifests, nodeAgent } from './kube-util.js';

const docsIn = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => (loadAll(readFileSync(path.join(dir, f), 'utf8')) as any[]).filter(Boolean).map((doc) => ({ file: f, doc })));

const EXAMPLES = [...docsIn(path.join(MANIFESTS, 'examples')), ...docsIn(path.join(ROOT, 'examples'))];

const ctr = (name: string, nodeName: string, spec: Record<string, unknown> = {}) =>
  JSON.stringify({ apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name, namespace: 'default' }, spec: { image: 'busybox', nodeName, ...spec } });

describe('the manifests on a real API server', () => {
  let cluster: KubeCluster;
  let admin: Kubectl;

  before(async () => {
    cluster = await KubeCluster.start();
    admin = cluster.admin;
    await applyManifests(cluster);
  });

  after(async () => {
    await cluster?.cleanup();
  });

  it('the CRD is accepted: names, a structural schema, served and stored', async () => {
    const crd = JSON.parse(await admin.ok(['get', 'crd', 'containers.converge.dev', '-o', 'json']));
    const conds = Object.fromEntries(crd.status.conditions.map((c: any) => [c.type, c.status]));
    assert.equal(conds.Established, 'True');
    assert.equal(conds.NamesAccepted, 'True');
    assert.equal(conds.NonStructuralSchema, undefined, 'no NonStructuralSchema condition');
    assert.deepEqual(crd.status.acceptedNames.shortNames, ['ctr']);
    const resources = await admin.ok(['api-resources', '--api-group=converge.dev']);
    assert.match(resources, /^containers\s+ctr\s+converge\.dev\/v1alpha1\s+true\s+Container$/m);
  });

  it('the examples pass the server and the loader alike, with no field dropped', async () => {
    assert.ok(EXAMPLES.length >= 3);
    for (const { file, doc } of EXAMPLES) {
      assert.deepEqual(validateDocument(doc), [], `${file}: loader`);
      const r = await admin.run(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], { input: JSON.stringify(doc) });
      assert.equal(r.code, 0, `${file}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), '', `${file}: no warning`);
    }
  });

  it('on broken documents, the server and the loader refuse the same field', async () => {
    const good = EXAMPLES.find((e) => e.file === 'web.yaml')!.doc;
    const cases: [string, (d: any) => void][] = [
      ['spec.restartPolicy', (d) => (d.spec.restartPolicy = 'Sometimes')],
      ['spec.image', (d) => delete d.spec.image],
      ['spec.workingDir', (d) => (d.spec.workingDir = 'relative')],
      ['spec.resources.limits.memory', (d) => (d.spec.resources = { limits: { memory: '64 MB' } })],
      ['spec.resources.limits.cpu', (d) => (d.spec.resources = { limits: { cpu: 'lots' } })],
      ['spec.terminationGracePeriodSeconds', (d) => (d.spec.terminationGracePeriodSeconds = -1)],
      ['spec.args', (d) => (d.spec.args = 'not a list')],
      ['spec.healthCheck.exec', (d) => (d.spec.healthCheck = { exec: [] })],
    ];
    for (const [field, breakIt] of cases) {
      const doc = structuredClone(good);
      breakIt(doc);
      assert.ok(validateDocument(doc).some((i) => i.path === field), `${field}: loader`);
      const stderr = await admin.fails(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(doc) });
      assert.match(stderr, new RegExp(`is invalid: .*${field.replace(/[.[\]]/g, '\\$&')}`), `${field}: server says ${stderr}`);
    }
  });

  it('an unknown field: the loader refuses it; the server drops it with a warning, or refuses it when strict', async () => {
    const doc = structuredClone(EXAMPLES[0].doc);
    doc.spec.imagePulPolicy = 'Never';
    assert.ok(validateDocument(doc).some((i) => /unknown field 'imagePulPolicy'/.test(i.message)));
    const warned = await admin.run(['apply', '--dry-run=server', '--validate=warn', '-f', '-'], { input: JSON.stringify(doc) });
    assert.equal(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /unknown field "spec\.imagePulPolicy"/);
    assert.match(await admin.fails(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], { input: JSON.stringify(doc) }), /unknown field "spec\.imagePulPolicy"/);
  });

  it('the DaemonSet passes the server (dry run: nothing schedules it here)', async () => {
    const out = await admin.ok(['apply', '--dry-run=server', '--validate=strict', '-f', path.join(MANIFESTS, 'daemonset.yaml')]);
    assert.match(out, /daemonset\.apps\/converge created \(server dry run\)/);
  });

  it('every status converge writes fits the CRD status schema', async () => {
    await admin.ok(['apply', '-f', '-'], { input: ctr('fits', 'node-1') });
    const row = (over: Partial<StatusRow> = {}): StatusRow =>
      ({ name: 'fits', namespace: 'default', id: 'default.fits', phase: 'Running', restarts: 0, exitCode: null, message: '', pid: 7, image: 'busybox', source: 'kube:default/fits', createdAt: null, startedAt: new Date().toISOString(), ...over }) as StatusRow;
    const statuses = [
      buildContainerStatus({ generation: 1, row: row(), problems: [], deleting: false, now: new Date() }),
      buildContainerStatus({ generation: 1, row: undefined, problems: ['x: y'], deleting: false, now: new Date() }),
      buildContainerStatus({ generation: 1, row: row({ phase: 'Orphaned' }), problems: [], deleting: false, now: new Date() }),
      buildContainerStatus({ generation: 1, row: row({ ip: '10.213.0.2', ports: ['127.0.0.1:18080->8080/tcp'] }), problems: [], deleting: false, now: new Date() }),
      buildContainerStatus({ generation: 1, row: row({ health: 'Unhealthy', healthFailures: 3, healthOutput: 'boom', lastProbeAt: new Date().toISOString() }), problems: [], deleting: false, now: new Date() }),
      buildContainerStatus({ generation: 1, row: row({ phase: 'Failed', pid: null, message: `RegistryError: ${'x\n\u001b[2J'.repeat(5000)}` }), problems: [], deleting: false, now: new Date() }),
    ];
    for (const status of statuses) {
      // The whole status replaced, as converge's PUT does (a merge patch would keep the fields left out).
      const r = await admin.run(['patch', 'ctr', 'fits', '--subresource=status', '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/status', value: status }])]);
      assert.equal(r.code, 0, `${status.phase}: ${r.stderr}`);
      const back = await admin.json('ctr', 'fits');
      assert.deepEqual(back.status, status, `${status.phase}: stored as written, nothing pruned`);
    }
  });

  it('selects on spec.nodeName on the server; another field is refused', async () => {
    await admin.ok(['apply', '-f', '-'], { input: ctr('on-2', 'node-2') });
    const names = (await admin.ok(['get', 'ctr', '--field-selector', 'spec.nodeName=node-2', '-o', 'name'])).trim();
    assert.equal(names, 'container.converge.dev/on-2');
    assert.match(await admin.fails(['get', 'ctr', '--field-selector', 'spec.image=busybox']), /field label not supported: spec\.image/);
  });

  it("the node agent's ServiceAccount: RBAC gives it what converge needs and no more", async () => {
    const agent = await nodeAgent(cluster, 'node-1');
    const can = async (...args: string[]) => (await agent.run(['auth', 'can-i', ...args])).stdout.trim();
    for (const v of ['get', 'list', 'watch', 'patch']) assert.equal(await can(v, 'containers.converge.dev', '-A'), 'yes', v);
    assert.equal(await can('update', 'containers.converge.dev', '--subresource=status'), 'yes');
    assert.equal(await can('create', 'events'), 'yes');
    for (const [v, r] of [['create', 'containers.converge.dev'], ['delete', 'containers.converge.dev'], ['update', 'containers.converge.dev'], ['get', 'secrets'], ['get', 'pods'], ['list', 'events']]) {
      assert.equal(await can(v, r, '-A'), 'no', `${v} ${r}`);
    }
    assert.match(await agent.fails(['apply', '-f', '-'], { input: ctr('sneaky', 'node-1') }), /forbidden/);
  });

  it('and the admission policy holds it to status and its own finalizer, on its own node', async () => {
    await admin.ok(['apply', '-f', '-'], { input: ctr('mine', 'node-1') });
    await admin.ok(['apply', '-f', '-'], { input: ctr('theirs', 'node-2') });
    const agent = await nodeAgent(cluster, 'node-1');
    const patch = (name: string, p: object, ...extra: string[]) => agent.run(['patch', 'ctr', name, '--type=merge', '-p', JSON.stringify(p), ...extra]);

    assert.equal((await patch('mine', { metadata: { finalizers: ['converge.dev/cleanup'] } })).code, 0, 'its own finalizer');
    assert.equal((await patch('mine', { status: { phase: 'Running' } }, '--subresource=status')).code, 0, 'the status');
    const denied: [string, object, RegExp, string[]][] = [
      ['mine', { spec: { image: 'evil' } }, /may not change a Container's spec/, []],
      ['mine', { metadata: { labels: { a: 'b' } } }, /may not change a Container's labels/, []],
      ['mine', { metadata: { annotations: { a: 'b' } } }, /may not change a Container's annotations/, []],
      ['mine', { metadata: { finalizers: ['converge.dev/cleanup', 'example.com/other'] } }, /only its own finalizer/, []],
      ['theirs', { status: { phase: 'Running' } }, /may write only the Containers of its own node/, ['--subresource=status']],
      ['theirs', { metadata: { finalizers: ['converge.dev/cleanup'] } }, /may write only the Containers of its own node/, []],
    ];
    for (const [name, p, message, extra] of denied) {
      const r = await patch(name, p, ...extra);
      assert.notEqual(r.code, 0, `${name} ${JSON.stringify(p)} was allowed`);
      assert.match(r.stderr, /ValidatingAdmissionPolicy 'converge-node-agent'/, r.stderr);
      assert.match(r.stderr, message);
    }
    assert.equal((await admin.json('ctr', 'theirs')).status, undefined, 'the other node\'s status untouched');

    // A token bound to no pod names no node: the policy cannot tell nodes apart (the README says so).
    const unbound = (await admin.ok(['create', 'token', 'converge', '-n', 'converge-system'])).trim();
    const anyNode = new Kubectl(cluster.kubeconfig('converge-unbound', unbound));
    assert.equal((await anyNode.run(['patch', 'ctr', 'theirs', '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Running"}}'])).code, 0);
    assert.match(await anyNode.fails(['patch', 'ctr', 'theirs', '--type=merge', '-p', '{"spec":{"image":"evil"}}']), /may not change a Container's spec/);
  });
});
