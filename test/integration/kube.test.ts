// The Kubernetes source end to end against a real kube-apiserver and etcd
// (test/harness/kube-cluster.ts), with the built kubectl, converge run --kube as a child
// process authenticated as manifests/rbac.yaml's ServiceAccount (a token bound to a pod on
// node-1, so manifests/admission.yaml holds it to that node), and a real containerd.
// converge reaches the API server through a TCP relay the tests can cut or partition. What
// converge asked and what the server answered is read from the server's audit log. The
// tests run in order on one converge and build on each other's resources.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { uniqueNamespace } from '../harness/containerd.js';
import { importBusybox } from '../harness/image.js';
import { KubeCluster, type AuditEvent } from '../harness/kube-cluster.js';
import { KUBE_VERSION, type Kubectl } from '../harness/kube-tools.js';
import { TcpProxy } from '../harness/tcp-proxy.js';
import { Env, Scenario, sleeper, waitFor, type Converge } from './util.js';
import { SA_USER, applyManifests, conditionOf, manifest, nodeAgent, viaPort } from './kube-util.js';

const NODE = 'node-1';

const fromConverge = (e: AuditEvent) => e.user.username === SA_USER;
const onContainers = (e: AuditEvent) => e.objectRef?.resource === 'containers';
const isList = (e: AuditEvent) => fromConverge(e) && onContainers(e) && e.verb === 'list' && e.stage === 'ResponseComplete';
const isWatch = (e: AuditEvent) => fromConverge(e) && onContainers(e) && e.verb === 'watch' && e.stage === 'ResponseStarted';
const statusWrites = (name: string) => (e: AuditEvent) =>
  fromConverge(e) && e.verb === 'update' && e.objectRef?.subresource === 'status' && e.objectRef.name === name && e.stage === 'ResponseComplete';
const query = (e: AuditEvent) => new URL(e.requestURI, 'https://x').searchParams;

describe(`kubernetes source (kube-apiserver ${KUBE_VERSION})`, () => {
  let cluster: KubeCluster;
  let admin: Kubectl;
  let proxy: TcpProxy;
  let env: Env;
  let s: Scenario;
  let converge: Converge;

  const get = (name: string) => admin.json('ctr', name);
  const apply = (name: string, spec?: Record<string, unknown>, labels?: Record<string, string>) =>
    admin.ok(['apply', '-f', '-'], { input: manifest(name, NODE, spec, labels) });
  /** Waits until the resource's status satisfies `pred`; returns the resource. */
  const waitStatus = (name: string, pred: (o: any) => boolean, what: string, timeoutMs = 30_000) => {
    let last: any;
    return waitFor(
      async () => {
        last = await get(name);
        return last && pred(last) ? last : undefined;
      },
      { what: `${name}: ${what}`, timeoutMs, intervalMs: 200, detail: () => `last: ${JSON.stringify(last?.status ?? last)}\n${converge.tail()}` },
    );
  };
  const logged = (msg: string, since = 0) => converge.lines.slice(since).filter((l) => l.msg === msg);
  const eventsOf = async (name: string) =>
    (JSON.parse(await admin.ok(['get', 'events', '-o', 'json'])).items as any[]).filter((e) => e.involvedObject.name === name);

  before(async () => {
    cluster = await KubeCluster.start();
    admin = cluster.admin;
    await applyManifests(cluster);
    const agent = await nodeAgent(cluster, NODE);
    proxy = await TcpProxy.start(cluster.port);
    env = await Env.start();
    const namespace = uniqueNamespace('kube');
    await importBusybox(env.address, namespace);
    s = new Scenario(env, namespace, mkdtempSync(path.join(env.root, 'kube-')));
    converge = await s.run(
      ['--kube', '--kubeconfig', viaPort(cluster, agent, 'converge-proxied', proxy.port), '--node-name', NODE,
        '--kube-backoff-max', '500ms', '--backoff-initial', '50ms', '--log-level', 'debug'],
      [],
    );
    await converge.waitReady();
  });

  after(async () => {
    // A measurement (the API server is memory hungry: one per test file), never a limit.
    const rss = cluster?.rssKiB();
    if (rss) console.error(`# kube-apiserver RSS ${Math.round(rss.apiserver / 1024)} MiB, etcd RSS ${Math.round(rss.etcd / 1024)} MiB`);
    // KUBE_TEST_LOG=FILE keeps converge's log and the API server's audit log, for a failure's post-mortem.
    if (process.env.KUBE_TEST_LOG && converge && cluster) writeFileSync(process.env.KUBE_TEST_LOG, [...converge.lines, ...cluster.audit()].map((l) => JSON.stringify(l)).join('\n') + '\n');
    await s?.cleanup();
    await proxy?.stop();
    await cluster?.cleanup();
    await env?.cleanup();
  });

  it('the README workflow: apply runs the container, get ctr and describe show it, delete removes container then resource', async () => {
    await apply('web');
    const pid = await s.waitRunning('default.web', { converge });
    const obj = await waitStatus('web', (o) => o.status?.phase === 'Running' && o.status.pid === pid, `Running with pid ${pid}`);
    assert.ok(obj.metadata.finalizers.includes('converge.dev/cleanup'), 'the finalizer is added');
    assert.equal(obj.status.containerID, 'default.web');
    assert.equal(obj.status.restartCount, 0);
    assert.equal(obj.status.observedGeneration, obj.metadata.generation);
    assert.ok(Date.parse(obj.status.startedAt) > 0, 'startedAt is a time');
    assert.deepEqual(
      obj.status.conditions.map((c: any) => [c.type, c.status, c.reason]),
      [['Ready', 'True', 'Running'], ['Progressing', 'False', 'Converged'], ['Degraded', 'False', 'AsExpected']],
    );

    // The CRD's printer columns, as the real kubectl prints them (IP only with -o wide).
    const table = await admin.ok(['get', 'ctr']);
    assert.match(table, /^NAME\s+NODE\s+PHASE\s+RESTARTS\s+AGE$/m);
    assert.match(table, /^web\s+node-1\s+Running\s+0\s+\d+s$/m);
    assert.match(await admin.ok(['get', 'ctr', '-o', 'wide']), /^NAME\s+NODE\s+PHASE\s+RESTARTS\s+AGE\s+IP$/m);

    await waitFor(async () => (await eventsOf('web')).some((e) => e.reason === 'Created' && e.source?.component === 'converge'), { what: 'a Created event for web' });
    const described = await admin.ok(['describe', 'ctr', 'web']);
    assert.match(described, /^Name:\s+web$/m);
    assert.match(described, /Phase:\s+Running/);
    assert.match(described, /^Events:[\s\S]*Normal\s+Created\s+.*converge.*created container default\.web/m);

    const writes = cluster.audit().filter(statusWrites('web')).length;
    await admin.ok(['delete', 'ctr', 'web', '--timeout=60s']);
    // kubectl delete waits for the resource to go; the finalizer holds it until the container is gone.
    assert.deepEqual(await s.inContainerd('default.web'), { container: false, task: undefined, snapshot: false });
    assert.equal(await get('web'), undefined);
    await waitFor(async () => (await eventsOf('web')).some((e) => e.reason === 'Removed'), { what: 'a Removed event for web' });
    assert.ok(writes >= 1 && writes <= 4, `status written only on change (${writes} writes)`);
  });

  it('a resource the policy denies (kube: is baseline by default) shows PolicyDenied and a Warning Event; nothing reaches containerd', async () => {
    await apply('hostnet', { ...sleeper(), network: 'host' });
    const denied = await waitStatus('hostnet', (o) => conditionOf(o, 'Degraded')?.reason === 'PolicyDenied', 'Degraded: PolicyDenied');
    assert.equal(denied.status.phase, 'Denied');
    assert.match(denied.status.message, /^denied by policy \(generation 1\): spec\.network: network: host is not allowed at level baseline .*denied by the default for kube: sources \(level baseline\); nothing runs until the policy allows it$/);
    await waitFor(async () => (await eventsOf('hostnet')).some((e) => e.reason === 'Denied' && e.type === 'Warning'), { what: 'a Warning Denied event for hostnet' });
    assert.equal((await s.inContainerd('default.hostnet')).container, false);
    await admin.ok(['delete', 'ctr', 'hostnet', '--timeout=60s']);
  });

  it('a bad spec is reported on the status and in a Warning Event while the last good version keeps running', async () => {
    await apply('keep');
    const pid = await s.waitRunning('default.keep', { converge });
    await waitStatus('keep', (o) => o.status?.phase === 'Running', 'Running');
    // Valid for the CRD schema (the API server takes it), invalid for converge: a bind mount needs a source.
    await apply('keep', { mounts: [{ type: 'bind', target: '/data' }] });
    const bad = await waitStatus('keep', (o) => conditionOf(o, 'Degraded')?.reason === 'InvalidSpec', 'Degraded: InvalidSpec');
    assert.equal(bad.metadata.generation, 2);
    assert.equal(bad.status.observedGeneration, 2);
    assert.equal(conditionOf(bad, 'Degraded').status, 'True');
    assert.equal(bad.status.phase, 'Running');
    assert.match(bad.status.message, /spec\.mounts\[0\]/);
    await waitFor(async () => (await eventsOf('keep')).some((e) => e.reason === 'InvalidSpec' && e.type === 'Warning' && /spec\.mounts\[0\]/.test(e.message)), {
      what: 'a Warning InvalidSpec event for keep',
    });
    assert.equal((await s.get('default.keep'))?.task?.pid, pid, 'the last good version still runs, untouched');

    await apply('keep', sleeper('fixed'));
    await s.waitRunning('default.keep', { converge, notPid: pid });
    const fixed = await waitStatus('keep', (o) => o.status?.observedGeneration === 3 && conditionOf(o, 'Degraded')?.status === 'False', 'generation 3 healthy');
    assert.equal(fixed.status.phase, 'Running');
    await admin.ok(['delete', 'ctr', 'keep', '--timeout=60s']);
    await s.waitGone('default.keep');
  });

  it("ignores a resource for another node: the server selects on spec.nodeName (the CRD's selectableFields)", async () => {
    await apply('elsewhere', { nodeName: 'node-2' });
    await apply('here');
    await s.waitRunning('default.here', { converge });
    await waitStatus('here', (o) => o.status?.phase === 'Running', 'Running');
    const other = await get('elsewhere');
    assert.equal(other.status, undefined, 'no status written');
    assert.equal(other.metadata.finalizers, undefined, 'no finalizer added');
    assert.equal((await s.inContainerd('default.elsewhere')).container, false);
    assert.equal(converge.lines.filter((l) => l.key === 'default/elsewhere').length, 0);
    await admin.ok(['delete', 'ctr', 'elsewhere', '--timeout=30s']);
    // Each read selects this node, and the server takes the selector (no 400). A read may
    // meet a 429 while the server's cache of a new CRD fills: converge retries it.
    const reads = cluster.audit().filter((e) => isList(e) || isWatch(e));
    const wrong = reads.filter((e) => query(e).get('fieldSelector') !== `spec.nodeName=${NODE}` || ![200, 429].includes(e.responseStatus?.code ?? 0));
    assert.ok(reads.some((e) => isWatch(e) && e.responseStatus?.code === 200), 'watching');
    assert.deepEqual(wrong.map((e) => [e.requestURI, e.responseStatus?.code]), [], 'every list and watch selects this node');
    assert.equal(logged('the API server cannot select on the field; reading every resource and filtering here').length, 0);
    assert.ok(logged('listed resources').every((l) => l.listed === l.kept), 'the server sent this node\'s resources only');
  });

  it('a resource moved to another node leaves the server-side selection, and its container goes', async () => {
    await apply('mover');
    await s.waitRunning('default.mover', { converge });
    await waitStatus('mover', (o) => o.status?.phase === 'Running', 'Running');
    await admin.ok(['patch', 'ctr', 'mover', '--type=merge', '-p', '{"spec":{"nodeName":"node-2"}}']);
    await s.waitGone('default.mover');
    // Nothing on node-2 runs converge here: its finalizer goes by hand, as the README says for a node gone for good.
    await admin.ok(['patch', 'ctr', 'mover', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await admin.ok(['delete', 'ctr', 'mover', '--timeout=30s']);
  });

  it('resumes a watch cut mid-stream from its resourceVersion, without relisting', async () => {
    const pid = await s.waitRunning('default.here', { converge });
    const audit = cluster.audit();
    const lists = audit.filter(isList).length;
    const watches = audit.filter(isWatch).length;
    const since = converge.lines.length;
    assert.ok(proxy.cut() >= 1, 'converge had a connection open');
    await apply('here', sleeper('after-cut'));
    await s.waitRunning('default.here', { converge, notPid: pid });
    const rewatch = cluster.audit().filter(isWatch).slice(watches);
    assert.ok(rewatch.length >= 1, 'watched again');
    assert.ok(Number(query(rewatch[0]).get('resourceVersion')) > 0, 'from the resourceVersion it had');
    assert.equal(cluster.audit().filter(isList).length, lists, 'no relist');
    assert.equal(logged('resourceVersion no longer served; relisting', since).length, 0);
  });

  it('the API server stopped and started mid-watch: containers run on, converge resumes', async () => {
    const pid = await s.waitRunning('default.here', { converge });
    const since = converge.lines.length;
    await cluster.stopApiserver();
    await waitFor(() => logged('kubernetes list/watch failed; keeping the last known resources', since).length > 0, { what: 'converge to see the API server gone', detail: () => converge.tail() });
    assert.equal((await s.get('default.here'))?.task?.pid, pid, 'the API server going away stops nothing');
    await cluster.startApiserver();
    // Resumed, or relisted when the restarted server no longer knows its resourceVersion.
    await waitFor(() => logged('kubernetes watch reconnected', since).length + logged('listed resources', since).length > 0, {
      what: 'converge to read again', timeoutMs: 60_000, detail: () => converge.tail(),
    });
    assert.equal((await s.get('default.here'))?.task?.pid, pid, 'reconnecting restarts nothing');
    await apply('here', sleeper('after-restart'));
    await s.waitRunning('default.here', { converge, notPid: pid });
  });

  it('etcd compacted past its resourceVersion while it was cut off: 410 Gone, a relist, and it catches up', async () => {
    await apply('doomed');
    await s.waitRunning('default.doomed', { converge });
    await waitStatus('doomed', (o) => o.metadata.finalizers?.includes('converge.dev/cleanup'), 'finalizer added');
    const herePid = await s.waitRunning('default.here', { converge });
    const since = converge.lines.length;

    proxy.partition();
    await waitFor(() => logged('kubernetes list/watch failed; keeping the last known resources', since).length > 0, { what: 'converge to be cut off' });
    // While converge cannot see: one resource deleted (its finalizer holds it), one new.
    await admin.ok(['delete', 'ctr', 'doomed', '--wait=false']);
    await apply('fresh');
    // Every revision converge knows goes from etcd; a restarted API server's watch cache starts after it.
    const compacted = await cluster.compact();
    await cluster.stopApiserver();
    await cluster.startApiserver();
    const listsBefore = cluster.audit().filter(isList).length;
    proxy.heal();

    await s.waitRunning('default.fresh', { converge });
    await s.waitGone('default.doomed');
    await waitFor(async () => (await get('doomed')) === undefined, { what: 'doomed to be deleted once its container is gone' });
    assert.ok(logged('resourceVersion no longer served; relisting', since).length >= 1, 'relisted after 410');
    assert.ok(logged('resourceVersion no longer served; relisting', since).every((l) => Number(l.resourceVersion) < compacted), 'from a compacted resourceVersion');
    assert.ok(cluster.audit().filter(isList).length > listsBefore, 'a new list');
    assert.equal((await s.get('default.here'))?.task?.pid, herePid, 'the relist restarts nothing');
  });

  it('retries a status write that conflicts (409) on the latest version, keeping the other writer\'s change', async () => {
    const pid = await s.waitRunning('default.fresh', { converge });
    await waitStatus('fresh', (o) => o.status?.phase === 'Running' && o.status.pid === pid, 'Running');
    const since = cluster.audit().length;
    const writes = () => cluster.audit().slice(since).filter(statusWrites('fresh'));
    proxy.stall(); // converge's cache falls behind ...
    try {
      // ... while someone else writes (an annotation: a label would change the spec, and recreate)
      await admin.ok(['annotate', 'ctr', 'fresh', 'owner=team-a']);
      await s.ctr(['tasks', 'kill', '-s', 'SIGKILL', 'default.fresh']); // and the status must change
      await s.waitRunning('default.fresh', { converge, notPid: pid });
      // Its status write and its Event, each on a connection of its own, built on what it knew.
      await waitFor(() => proxy.heldConnections() >= 2, { what: 'converge to write while stalled', detail: () => converge.tail() });
    } finally {
      proxy.release();
    }
    await waitFor(() => writes().some((e) => e.responseStatus?.code === 409) && writes().at(-1)?.responseStatus?.code === 200, {
      what: 'a 409 on a status write, then a successful one',
      detail: () => JSON.stringify(writes().map((e) => e.responseStatus?.code)),
    });
    const obj = await waitStatus('fresh', (o) => o.status?.restartCount === 1 && o.status.phase === 'Running', 'restartCount 1');
    assert.equal(obj.metadata.annotations.owner, 'team-a', 'the other writer\'s change is kept');
    assert.ok(converge.lines.some((l) => l.msg === 'write conflict (409); retrying with the latest version'));
  });
});
