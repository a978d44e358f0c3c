// What the Kubernetes integration tests share: the committed manifests applied to a real
// API server (test/harness/kube-cluster.ts) as the admin, converge's credentials as
// manifests/rbac.yaml's ServiceAccount (a token from `kubectl create token`, bound to a pod
// on the node, so the admission policy knows the node), and Container documents made from
// manifests/examples/web.yaml.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dump, load } from 'js-yaml';
import type { KubeCluster } from '../harness/kube-cluster.js';
import { Kubectl } from '../harness/kube-tools.js';
import { IMAGE, sleeper } from './util.js';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
export const MANIFESTS = path.join(ROOT, 'manifests');
export const SA_USER = 'system:serviceaccount:converge-system:converge';

/** Applies crd.yaml, rbac.yaml and admission.yaml, and waits for the CRD to be served. */
export async function applyManifests(cluster: KubeCluster): Promise<void> {
  const k = cluster.admin;
  await k.ok(['apply', '-f', path.join(MANIFESTS, 'crd.yaml'), '-f', path.join(MANIFESTS, 'rbac.yaml'), '-f', path.join(MANIFESTS, 'admission.yaml')]);
  await k.ok(['wait', '--for=condition=Established', '--timeout=60s', 'crd/containers.converge.dev']);
}

/**
 * converge's credentials on `node`: a pod of the ServiceAccount on that node (no kubelet
 * runs it; it only anchors the token), and a token bound to it, which the API server
 * authenticates as the ServiceAccount with the node's name in the user's extra.
 */
export async function nodeAgent(cluster: KubeCluster, node: string): Promise<Kubectl> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `converge-${node}`, namespace: 'converge-system' },
    spec: { nodeName: node, serviceAccountName: 'converge', automountServiceAccountToken: false, containers: [{ name: 'converge', image: 'ghcr.io/converge-dev/converge:0.1.0' }] },
  };
  await cluster.admin.ok(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  const token = (await cluster.admin.ok([
    'create', 'token', 'converge', '-n', 'converge-system', '--duration=6h',
    '--bound-object-kind=Pod', `--bound-object-name=converge-${node}`,
  ])).trim();
  return new Kubectl(cluster.kubeconfig(`converge-${node}`, token));
}

/** The same token, through another port (a TcpProxy in front of the API server). */
export function viaPort(cluster: KubeCluster, agent: Kubectl, name: string, port: number): string {
  const token = /token: "([^"]+)"/.exec(readFileSync(agent.kubeconfig, 'utf8'))![1];
  return cluster.kubeconfig(name, token, port);
}

/** manifests/examples/web.yaml, renamed and pointed at a node and the test image. */
export function manifest(name: string, node: string, spec: Record<string, unknown> = {}, labels?: Record<string, string>): string {
  const doc = load(readFileSync(path.join(MANIFESTS, 'examples/web.yaml'), 'utf8')) as any;
  doc.metadata.name = name;
  if (labels) doc.metadata.labels = labels;
  // The test image is imported, with no registry behind it: ":latest" would default to Always.
  doc.spec = { ...doc.spec, nodeName: node, image: IMAGE, imagePullPolicy: 'IfNotPresent', ...sleeper(name), ...spec };
  return dump(doc);
}

export const conditionOf = (o: any, type: string): any => (o.status?.conditions ?? []).find((c: any) => c.type === type);
