// The Kubernetes manifests say what issue 10 asks of them, read from the files themselves:
// the DaemonSet (seccomp, narrow tolerations, --listen on loopback with probes that can
// reach it), the namespace's Pod Security labels, and the admission policy that holds the
// node agent's token to status and its own finalizer. No CEL evaluator here: the policy is
// checked for its shape and for naming the same ServiceAccount and finalizer as the rest.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAll } from 'js-yaml';
import { isLoopbackHost } from '../../src/publish/guard.js';
import { parseListen } from '../../src/publish/http.js';
import { FINALIZER } from '../../src/publish/kube/writer.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
type Doc = Record<string, any>;
const docs = (file: string): Doc[] => loadAll(readFileSync(path.join(ROOT, 'manifests', file), 'utf8')) as Doc[];
const kind = (file: string, k: string): Doc => {
  const d = docs(file).find((x) => x?.kind === k);
  assert.ok(d, `${file} has a ${k}`);
  return d;
};

test('the DaemonSet: RuntimeDefault seccomp, no blanket toleration, --listen on loopback with probes inside the pod', () => {
  const pod = kind('daemonset.yaml', 'DaemonSet').spec.template.spec;
  assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
  for (const t of pod.tolerations ?? []) assert.ok(t.key, `a toleration names its taint: ${JSON.stringify(t)}`);
  const [c] = pod.containers;
  const listen = (c.args as string[]).find((a) => a.startsWith('--listen='))?.slice('--listen='.length);
  assert.ok(listen, '--listen is set (the probes need it)');
  assert.ok(isLoopbackHost(parseListen(listen).host), `--listen binds loopback (${listen})`);
  for (const probe of [c.readinessProbe, c.livenessProbe]) {
    assert.equal(probe.httpGet, undefined, 'the kubelet cannot reach a loopback listener over the pod IP');
    assert.ok((probe.exec.command as string[]).join(' ').includes(`http://${listen}/`), 'the probe asks the loopback listener');
  }
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
});

test('the namespace carries Pod Security labels', () => {
  const ns = kind('rbac.yaml', 'Namespace');
  const labels = ns.metadata.labels as Record<string, string>;
  for (const mode of ['enforce', 'audit', 'warn']) {
    assert.ok(['privileged', 'baseline', 'restricted'].includes(labels[`pod-security.kubernetes.io/${mode}`]), mode);
  }
});

test('the admission policy: the node agent may change only status and its own finalizer of a Container', () => {
  const policy = kind('admission.yaml', 'ValidatingAdmissionPolicy');
  const binding = kind('admission.yaml', 'ValidatingAdmissionPolicyBinding');
  assert.equal(policy.apiVersion, 'admissionregistration.k8s.io/v1');
  assert.equal(binding.apiVersion, 'admissionregistration.k8s.io/v1');
  assert.equal(binding.spec.policyName, policy.metadata.name);
  assert.deepEqual(binding.spec.validationActions, ['Deny']);
  assert.equal(policy.spec.failurePolicy, 'Fail');

  const [rule] = policy.spec.matchConstraints.resourceRules;
  assert.deepEqual(rule.apiGroups, ['converge.dev']);
  assert.deepEqual(rule.operations, ['UPDATE']);
  assert.deepEqual([...rule.resources].sort(), ['containers', 'containers/status']);

  // The same ServiceAccount the DaemonSet runs as and the ClusterRoleBinding grants.
  const sa = kind('rbac.yaml', 'ServiceAccount');
  const pod = kind('daemonset.yaml', 'DaemonSet').spec.template.spec;
  assert.equal(pod.serviceAccountName, sa.metadata.name);
  const user = `system:serviceaccount:${sa.metadata.namespace}:${sa.metadata.name}`;
  assert.ok(policy.spec.matchConditions.some((m: Doc) => m.expression === `request.userInfo.username == '${user}'`));

  const expressions = [...policy.spec.validations.map((v: Doc) => v.expression), ...policy.spec.variables.map((v: Doc) => v.expression)].join('\n');
  assert.match(expressions, /object\.spec == oldObject\.spec/);
  for (const field of ['labels', 'annotations', 'ownerReferences']) assert.match(expressions, new RegExp(`object\\.metadata\\.${field}`), field);
  assert.ok(expressions.includes(`f != '${FINALIZER}'`), `only ${FINALIZER} may come and go`);
  assert.match(expressions, /authentication\.kubernetes\.io\/node-name/);
  for (const v of policy.spec.validations) assert.ok(v.message, 'every validation says why');
});

test('RBAC grants no create or delete on Containers', () => {
  const role = kind('rbac.yaml', 'ClusterRole');
  for (const r of role.rules) {
    if (!(r.apiGroups as string[]).includes('converge.dev')) continue;
    assert.ok(!(r.verbs as string[]).some((v) => ['create', 'delete', 'deletecollection', 'update', '*'].includes(v) && r.resources.includes('containers')), JSON.stringify(r));
  }
});
