// The Kubernetes source end to end: a real kubectl (Debian's kubernetes-client) against the
// test API server (test/kube), converge run --kube as a child process, and a real
// containerd. The CRD is the committed manifests/crd.yaml, applied with kubectl. The tests
// run in order on one converge and build on each other's resources.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dump, load } from 'js-yaml';
import { uniqueNamespace } from '../harness/containerd.js';
import { importBusybox } from '../harness/image.js';
import { Kubectl, KUBECTL } from '../kube/kubectl.js';
import { TestApiServer, type RequestRecord } from '../kube/server.js';
import { Env, IMAGE, Scenario, sleeper, waitFor, type Converge } from './util.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CRD = path.join(ROOT, 'manifests/crd.yaml');
const EXAMPLE = path.join(ROOT, 'manifests/examples/web.yaml');
const NODE = 'node-1';
const CONTAINERS = '/apis/converge.dev/v1alpha1/containers';

/** manifests/examples/web.yaml, renamed and pointed at this node and the test image. */
function manifest(name: string, spec: Record<string, unknown> = {}, labels?: Record<string, string>): string {
  const doc = load(readFileSync(EXAMPLE, 'utf8')) as any;
  doc.metadata.name = name;
  if (labels) doc.metadata.labels = labels;
  // The test image is imported, with no registry behind it: ":latest" would default to Always.
  doc.spec = { ...doc.spec, nodeName: NODE, image: IMAGE, imagePullPolicy: 'IfNotPresent', ...sleeper(name), ...spec };
  return dump(doc);
}

const fromConverge = (r: RequestRecord) => r.userAgent.startsWith('converge/');
const isList = (r: RequestRecord) => fromConverge(r) && r.method === 'GET' && r.path === CONTAINERS && !r.watch;
const isWatch = (r: RequestRecord) => fromConverge(r) && r.path === CONTAINERS && r.watch;

describe(`kubernetes source (kubectl: ${KUBECTL})`, () => {
  let env: Env;
  let api: TestApiServer;
  let kubectl: Kubectl;
  let s: Scenario;
  let converge: Converge;
  let dir: string;

  const get = (name: string) => kubectl.json('ctr', name);
  const apply = (name: string, spec?: Record<string, unknown>, labels?: Record<string, string>) =>
    kubectl.ok(['apply', '-f', '-'], { input: manifest(name, spec, labels) });
  /** Waits until the resource's status satisfies `pred`; returns the resource. */
  const waitStatus = (name: string, pred: (o: any) => boolean, what: string, timeoutMs = 20_000) => {
    let last: any;
    return waitFor(
      async () => {
        last = await get(name);
        return last && pred(last) ? last : undefined;
      },
      { what: `${name}: ${what}`, timeoutMs, detail: () => `last: ${JSON.stringify(last?.status ?? last)}\n${converge.tail()}` },
    );
  };
  const conditionOf = (o: any, type: string) => (o.status?.conditions ?? []).find((c: any) => c.type === type);
  const logged = (msg: string, since = 0) => converge.lines.slice(since).filter((l) => l.msg === msg);

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'converge-kube-'));
    env = await Env.start();
    api = await TestApiServer.start({ bookmarkMs: 200 });
    kubectl = new Kubectl(api.writeKubeconfig(path.join(dir, 'kubeconfig')));
    await kubectl.ok(['apply', '-f', CRD]);
    const namespace = uniqueNamespace('kube');
    await importBusybox(env.address, namespace);
    s = new Scenario(env, namespace, mkdtempSync(path.join(env.root, 'kube-')));
    converge = await s.run(
      ['--kube', '--kubeconfig', kubectl.kubeconfig, '--node-name', NODE, '--kube-backoff-max', '500ms', '--backoff-initial', '50ms', '--log-level', 'debug'],
      [],
    );
    await converge.waitReady();
  });

  after(async () => {
    // KUBE_TEST_LOG=FILE keeps converge's log and the API server's request log, for a failure's post-mortem.
    if (process.env.KUBE_TEST_LOG && converge) writeFileSync(process.env.KUBE_TEST_LOG, [...converge.lines, ...api.requests].map((l) => JSON.stringify(l)).join('\n') + '\n');
    await s?.cleanup();
    await api?.stop();
    await env?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('kubectl apply runs the container, get ctr shows its status, delete removes container then resource', async () => {
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

    const table = await kubectl.ok(['get', 'ctr']);
    assert.match(table, /^NAME\s+NODE\s+PHASE\s+RESTARTS\s+AGE$/m);
    assert.match(table, /^web\s+node-1\s+Running\s+0\s+\d+s$/m);

    await waitFor(
      async () => JSON.parse(await kubectl.ok(['get', 'events', '-o', 'json'])).items.some((e: any) => e.involvedObject.name === 'web' && e.reason === 'Created'),
      { what: 'a Created event for web' },
    );

    const statusWrites = api.requests.filter((r) => fromConverge(r) && r.method === 'PUT' && r.path.endsWith('/web/status')).length;
    await kubectl.ok(['delete', 'ctr', 'web', '--timeout=30s']);
    // kubectl delete waits for the resource to go; the finalizer holds it until the container is gone.
    assert.deepEqual(await s.inContainerd('default.web'), { container: false, task: undefined, snapshot: false });
    assert.equal(await get('web'), undefined);
    const eventsOfWeb = () => api.store.list(api.store.type('', 'v1', 'events')!, 'default').items.filter((e) => e.involvedObject.name === 'web');
    await waitFor(() => eventsOfWeb().some((e) => e.reason === 'Removed'), {
      what: 'a Removed event for web',
      detail: () => JSON.stringify(eventsOfWeb().map((e) => e.reason)),
    });
    assert.ok(statusWrites >= 1 && statusWrites <= 4, `status written only on change (${statusWrites} writes)`);
  });

  it('a resource the policy denies (kube: is baseline by default) shows PolicyDenied and a Warning Event; nothing reaches containerd', async () => {
    await apply('hostnet', { ...sleeper(), network: 'host' });
    const denied = await waitStatus('hostnet', (o) => conditionOf(o, 'Degraded')?.reason === 'PolicyDenied', 'Degraded: PolicyDenied');
    assert.equal(denied.status.phase, 'Denied');
    assert.match(denied.status.message, /^denied by policy \(generation 1\): spec\.network: network: host is not allowed at level baseline .*denied by the default for kube: sources \(level baseline\); nothing runs until the policy allows it$/);
    await waitFor(
      async () => JSON.parse(await kubectl.ok(['get', 'events', '-o', 'json'])).items.some((e: any) => e.involvedObject.name === 'hostnet' && e.reason === 'Denied' && e.type === 'Warning'),
      { what: 'a Warning Denied event for hostnet' },
    );
    assert.equal((await s.inContainerd('default.hostnet')).container, false);
    await kubectl.ok(['delete', 'ctr', 'hostnet', '--timeout=30s']);
  });

  it('an invalid resource is reported on its status while its last good version keeps running', async () => {
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
    assert.equal((await s.get('default.keep'))?.task?.pid, pid, 'the last good version still runs, untouched');

    await apply('keep', sleeper('fixed'));
    await s.waitRunning('default.keep', { converge, notPid: pid });
    const fixed = await waitStatus('keep', (o) => o.status?.observedGeneration === 3 && conditionOf(o, 'Degraded')?.status === 'False', 'generation 3 healthy');
    assert.equal(fixed.status.phase, 'Running');
    await kubectl.ok(['delete', 'ctr', 'keep', '--timeout=30s']);
    await s.waitGone('default.keep');
  });

  it('ignores a resource for another node', async () => {
    await apply('elsewhere', { nodeName: 'node-2' });
    await apply('here');
    await s.waitRunning('default.here', { converge });
    await waitStatus('here', (o) => o.status?.phase === 'Running', 'Running');
    const other = await get('elsewhere');
    assert.equal(other.status, undefined, 'no status written');
    assert.equal(other.metadata.finalizers, undefined, 'no finalizer added');
    assert.equal((await s.inContainerd('default.elsewhere')).container, false);
    assert.equal(converge.lines.filter((l) => l.key === 'default/elsewhere').length, 0);
    await kubectl.ok(['delete', 'ctr', 'elsewhere', '--timeout=10s']);
    // The committed CRD makes spec.nodeName selectable: the server sends this node's resources only.
    const reads = api.requests.filter((r) => isList(r) || isWatch(r));
    assert.ok(reads.length > 0 && reads.every((r) => r.query.fieldSelector === `spec.nodeName=${NODE}`), 'every list and watch selects this node');
    assert.equal(logged('the API server cannot select on the field; reading every resource and filtering here').length, 0);
  });

  it('a resource moved to another node leaves the server-side selection, and its container goes', async () => {
    await apply('mover');
    await s.waitRunning('default.mover', { converge });
    await waitStatus('mover', (o) => o.status?.phase === 'Running', 'Running');
    await kubectl.ok(['patch', 'ctr', 'mover', '--type=merge', '-p', '{"spec":{"nodeName":"node-2"}}']);
    await s.waitGone('default.mover');
    // Nothing on node-2 runs converge here: its finalizer goes by hand, as the README says for a node gone for good.
    await kubectl.ok(['patch', 'ctr', 'mover', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    await kubectl.ok(['delete', 'ctr', 'mover', '--timeout=10s']);
  });

  it('resumes a watch dropped mid-stream from its resourceVersion, without relisting', async () => {
    const pid = await s.waitRunning('default.here', { converge });
    const lists = api.requests.filter(isList).length;
    const watches = api.requests.filter(isWatch).length;
    const since = converge.lines.length;
    assert.ok(api.dropWatches() >= 1, 'converge had a watch open');
    await apply('here', sleeper('after-drop'));
    await s.waitRunning('default.here', { converge, notPid: pid });
    const rewatch = api.requests.filter(isWatch).slice(watches);
    assert.ok(rewatch.length >= 1, 'watched again');
    assert.ok(Number(rewatch[0].query.resourceVersion) > 0, 'from the resourceVersion it had');
    assert.equal(api.requests.filter(isList).length, lists, 'no relist');
    assert.equal(logged('resourceVersion no longer served; relisting', since).length, 0);
  });

  it('after the API server restarts with every resourceVersion too old, relists and catches up; containers run on meanwhile', async () => {
    await apply('doomed');
    await s.waitRunning('default.doomed', { converge });
    await waitStatus('doomed', (o) => o.metadata.finalizers?.includes('converge.dev/cleanup'), 'finalizer added');
    const herePid = await s.waitRunning('default.here', { converge });
    const since = converge.lines.length;
    const type = api.store.type('converge.dev', 'v1alpha1', 'containers')!;

    await api.down();
    // While it is down (another API server, or etcd, changes things): one resource deleted, one new.
    api.store.delete(type, 'default', 'doomed');
    api.store.create(type, 'default', load(manifest('fresh')) as any, { fieldManager: 'test' });
    await waitFor(() => logged('kubernetes list/watch failed; keeping the last known resources', since).length > 0, { what: 'converge to see the API server gone' });
    assert.equal((await s.get('default.here'))?.task?.pid, herePid, 'the API server going away stops nothing');
    const listsBefore = api.requests.filter(isList).length;
    await api.up();

    await s.waitRunning('default.fresh', { converge });
    await s.waitGone('default.doomed');
    await waitFor(() => { try { api.store.get(type, 'default', 'doomed'); return false; } catch { return true; } }, { what: 'doomed to be deleted once its container is gone' });
    assert.ok(logged('resourceVersion no longer served; relisting', since).length >= 1, 'relisted after 410');
    assert.ok(api.requests.filter(isList).length > listsBefore, 'a new list');
    assert.equal((await s.get('default.here'))?.task?.pid, herePid, 'the relist restarts nothing');
  });

  it('retries a status write that conflicts (409) on the latest version', async () => {
    const pid = await s.waitRunning('default.fresh', { converge });
    await waitStatus('fresh', (o) => o.status?.phase === 'Running' && o.status.pid === pid, 'Running');
    const since = api.requests.length;
    api.pauseWatches(); // converge's cache falls behind ...
    // ... while someone else writes (an annotation: a label would change the spec, and recreate)
    await kubectl.ok(['annotate', 'ctr', 'fresh', 'owner=team-a']);
    await s.ctr(['tasks', 'kill', '-s', 'SIGKILL', 'default.fresh']); // and the status must change
    const statusPuts = () => api.requests.slice(since).filter((r) => fromConverge(r) && r.method === 'PUT' && r.path.endsWith('/fresh/status'));
    await waitFor(() => statusPuts().some((r) => r.status === 409) && statusPuts().at(-1)?.status === 200, {
      what: 'a 409 on a status write, then a successful one',
      detail: () => JSON.stringify(statusPuts().map((r) => r.status)),
    });
    api.resumeWatches();
    const obj = await waitStatus('fresh', (o) => o.status?.restartCount === 1 && o.status.phase === 'Running', 'restartCount 1');
    assert.equal(obj.metadata.annotations.owner, 'team-a', 'the other writer\'s change is kept');
    assert.ok(converge.lines.some((l) => l.msg === 'write conflict (409); retrying with the latest version'));
  });

  it('keeps its resourceVersion fresh from bookmarks, so a compacted history needs no relist', async () => {
    const lists = api.requests.filter(isList).length;
    const since = converge.lines.length;
    await kubectl.ok(['create', 'namespace', 'elsewhere']); // history moves on, with nothing for converge in it
    const rv = String(api.store.revision);
    await waitFor(() => api.bookmarks.includes(rv), { what: `a bookmark at ${rv}` });
    api.store.compact(); // everything before now is gone: only a client at `rv` can resume
    const watches = api.requests.filter(isWatch).length;
    api.dropWatches();
    await waitFor(() => api.requests.filter(isWatch).slice(watches).length > 0, { what: 'converge to watch again' });
    assert.equal(api.requests.filter(isWatch)[watches].query.resourceVersion, rv, 'resumed from the bookmark');
    const pid = await s.waitRunning('default.fresh', { converge });
    await apply('fresh', sleeper('after-compaction'));
    await s.waitRunning('default.fresh', { converge, notPid: pid });
    assert.equal(api.requests.filter(isList).length, lists, 'no relist');
    assert.equal(logged('resourceVersion no longer served; relisting', since).length, 0);
  });
});
