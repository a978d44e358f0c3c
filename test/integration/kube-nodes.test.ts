// Several nodes, one API server: Kubernetes as the distributed engine, converge as the node
// agent. Two converges with different --node-name, each with a private containerd of its
// own and a ServiceAccount token bound to its node (so manifests/admission.yaml holds each
// to its node's Containers), against one real kube-apiserver + etcd. Each runs only its
// node's Containers and writes only their status; a Container moved to the other node moves
// its container; a delete waits for the finalizer of the node that runs it.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { uniqueNamespace } from '../harness/containerd.js';
import { importBusybox } from '../harness/image.js';
import { KubeCluster, type AuditEvent } from '../harness/kube-cluster.js';
import type { Kubectl } from '../harness/kube-tools.js';
import { Env, Scenario, waitFor, type Converge } from './util.js';
import { SA_USER, applyManifests, manifest, nodeAgent } from './kube-util.js';

interface Node {
  name: string;
  env: Env;
  s: Scenario;
  converge: Converge;
}

const NODES = ['node-1', 'node-2'];

describe('kubernetes source on two nodes', () => {
  let cluster: KubeCluster;
  let admin: Kubectl;
  const nodes: Node[] = [];
  const envs: Env[] = [];
  const scenarios: Scenario[] = [];
  const node = (name: string) => nodes.find((n) => n.name === name)!;

  const get = (name: string) => admin.json('ctr', name);
  const apply = (name: string, nodeName: string) => admin.ok(['apply', '-f', '-'], { input: manifest(name, nodeName) });
  const statusWritesBy = (name: string) =>
    cluster.audit().filter((e) => e.user.username === SA_USER && e.objectRef?.name === name && e.objectRef.subresource === 'status' && e.verb === 'update' && e.stage === 'ResponseComplete')
      .map((e) => e.userAgent?.split(' ')[0]);
  const waitStatus = (name: string, pred: (o: any) => boolean, what: string) => {
    let last: any;
    return waitFor(async () => {
      last = await get(name);
      return last && pred(last) ? last : undefined;
    }, { what: `${name}: ${what}`, timeoutMs: 30_000, intervalMs: 200, detail: () => `last: ${JSON.stringify(last?.status ?? last)}\n${nodes.map((n) => `${n.name}:\n${n.converge.tail()}`).join('\n')}` });
  };

  before(async () => {
    cluster = await KubeCluster.start();
    admin = cluster.admin;
    await applyManifests(cluster);
    for (const name of NODES) {
      const agent = await nodeAgent(cluster, name);
      const env = await Env.start();
      envs.push(env); // torn down in after() even when what follows fails
      const namespace = uniqueNamespace(name);
      await importBusybox(env.address, namespace);
      const s = new Scenario(env, namespace, mkdtempSync(path.join(env.root, 'kube-')));
      scenarios.push(s);
      const converge = await s.run(['--kube', '--kubeconfig', agent.kubeconfig, '--node-name', name, '--kube-backoff-max', '500ms', '--backoff-initial', '50ms', '--log-level', 'debug'], []);
      nodes.push({ name, env, s, converge });
    }
    for (const n of nodes) await n.converge.waitReady();
  });

  after(async () => {
    // KUBE_TEST_LOG=FILE keeps both converges' logs and the API server's audit log, for a failure's post-mortem.
    if (process.env.KUBE_TEST_LOG && cluster) writeFileSync(process.env.KUBE_TEST_LOG, [...nodes.flatMap((n) => n.converge.lines.map((l) => ({ node: n.name, ...l }))), ...cluster.audit()].map((l) => JSON.stringify(l)).join('\n') + '\n');
    for (const s of scenarios) await s.cleanup().catch(() => undefined);
    await cluster?.cleanup();
    for (const env of envs) await env.cleanup();
  });

  it("each node runs only its own Containers, and writes only their status", async () => {
    await apply('one', 'node-1');
    await apply('two', 'node-2');
    await apply('nobody', 'node-3'); // no converge there
    const pid1 = await node('node-1').s.waitRunning('default.one', { converge: node('node-1').converge });
    const pid2 = await node('node-2').s.waitRunning('default.two', { converge: node('node-2').converge });
    await waitStatus('one', (o) => o.status?.phase === 'Running' && o.status.pid === pid1, 'Running on node-1');
    await waitStatus('two', (o) => o.status?.phase === 'Running' && o.status.pid === pid2, 'Running on node-2');
    assert.equal((await node('node-2').s.inContainerd('default.one')).container, false, 'node-2 does not run one');
    assert.equal((await node('node-1').s.inContainerd('default.two')).container, false, 'node-1 does not run two');
    for (const n of nodes) assert.equal((await n.s.inContainerd('default.nobody')).container, false);
    const nobody = await get('nobody');
    assert.equal(nobody.status, undefined);
    assert.equal(nobody.metadata.finalizers, undefined);
    assert.deepEqual([...new Set(statusWritesBy('one'))], ['converge/node-1']);
    assert.deepEqual([...new Set(statusWritesBy('two'))], ['converge/node-2']);
    await admin.ok(['delete', 'ctr', 'nobody', '--timeout=30s']);
  });

  it('a Container moved to the other node: its container goes from the first and starts on the second', async () => {
    const oldPid = await node('node-1').s.waitRunning('default.one');
    const since = cluster.audit().length;
    await admin.ok(['patch', 'ctr', 'one', '--type=merge', '-p', '{"spec":{"nodeName":"node-2"}}']);
    await node('node-1').s.waitGone('default.one');
    const pid = await node('node-2').s.waitRunning('default.one', { converge: node('node-2').converge });
    const moved = await waitStatus('one', (o) => o.status?.pid === pid && o.status.observedGeneration === o.metadata.generation, 'reported by node-2');
    assert.notEqual(pid, oldPid);
    assert.deepEqual(moved.metadata.finalizers, ['converge.dev/cleanup'], 'one finalizer, now node-2\'s to remove');
    const after = cluster.audit().slice(since).filter((e: AuditEvent) => e.objectRef?.name === 'one' && e.objectRef.subresource === 'status' && e.verb === 'update' && e.responseStatus?.code === 200);
    assert.equal(after.at(-1)?.userAgent?.split(' ')[0], 'converge/node-2', 'the last status write is node-2\'s');
  });

  it('delete waits for the node that runs the container, on each node', async () => {
    await admin.ok(['delete', 'ctr', 'one', 'two', '--timeout=60s']);
    for (const n of nodes) {
      assert.equal((await n.s.inContainerd('default.one')).container, false, `${n.name}: one gone`);
      assert.equal((await n.s.inContainerd('default.two')).container, false, `${n.name}: two gone`);
    }
    assert.equal(await get('one'), undefined);
    assert.equal(await get('two'), undefined);
  });

  it('no request of either node was refused by RBAC or the admission policy', () => {
    const refused = cluster.audit().filter((e) => e.user.username === SA_USER && e.stage === 'ResponseComplete' && [401, 403, 422].includes(e.responseStatus?.code ?? 0));
    assert.deepEqual(refused.map((e) => `${e.userAgent} ${e.verb} ${e.requestURI} ${e.responseStatus?.code}`), []);
  });
});
