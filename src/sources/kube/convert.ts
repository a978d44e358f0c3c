// A Container custom resource as a desired container: the same document the directory
// source reads from a file (apiVersion, kind, metadata name/namespace/labels, spec), checked
// by the same schema and code checks, keyed "namespace/name", origin "kube:<ns>/<name>".
// Everything else the API server keeps on the object (uid, resourceVersion, annotations,
// finalizers, status, ...) is not part of the spec and does not change its hash.

import { keyOf, type DesiredContainer, type Key, type Problem } from '../../spec/types.js';
import { toDesired } from '../../spec/resolve.js';
import { validateDocument } from '../../spec/schema.js';
import type { ContainerSpec } from '../../spec/types.js';

export type KubeObject = Record<string, any> & {
  metadata: { name: string; namespace?: string; [k: string]: any };
};

export const originOf = (namespace: string, name: string) => `kube:${namespace}/${name}`;

export function keyOfObject(obj: KubeObject): Key {
  return keyOf(obj.metadata.namespace ?? 'default', obj.metadata.name);
}

/** The spec document of a resource, as a user would write it in a file. */
export function documentOf(obj: KubeObject): Record<string, unknown> {
  const labels = obj.metadata.labels;
  const metadata: Record<string, unknown> = { name: obj.metadata.name };
  if (obj.metadata.namespace !== undefined) metadata.namespace = obj.metadata.namespace;
  if (labels && typeof labels === 'object' && Object.keys(labels).length > 0) metadata.labels = labels;
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata, spec: obj.spec };
}

export type Converted = { ok: true; desired: DesiredContainer } | { ok: false; problems: Problem[] };

export function convert(obj: KubeObject): Converted {
  const namespace = obj.metadata.namespace ?? 'default';
  const origin = originOf(namespace, obj.metadata.name);
  const doc = documentOf(obj);
  const issues = validateDocument(doc);
  if (issues.length > 0) {
    // No `key` on these: a keyed problem reads as a conflict over the key (desired.ts).
    return { ok: false, problems: issues.map((i) => ({ file: origin, path: i.path, message: i.message })) };
  }
  const spec = doc as unknown as ContainerSpec;
  return {
    ok: true,
    desired: toDesired(spec, origin),
  };
}
