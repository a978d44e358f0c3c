// The spec hash: sha256 over the document as the user wrote it, canonicalised. It is stored
// on the containerd container as a label and compared on every reconcile, so it must not
// change unless what the user wrote changed in meaning:
// - object keys are sorted (recursively), arrays keep their order;
// - no defaults are filled in, so a later converge that adds a defaulted field restarts nothing;
// - apiVersion and kind are left out (a new API version with the same fields is the same
//   container);
// - metadata.namespace is left out: it is part of the key that the hash is compared under,
//   so `namespace: default` written out and the namespace omitted hash the same.

import { createHash } from 'node:crypto';
import type { ContainerSpec } from './types.js';

export function specHash(spec: ContainerSpec): string {
  const { namespace: _namespace, ...metadata } = spec.metadata;
  return createHash('sha256').update(canonicalJson({ metadata, spec: spec.spec })).digest('hex');
}

/** JSON with object keys sorted at every level; undefined members are dropped as JSON does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const record = value as Record<string, unknown>;
  const members = Object.keys(record)
    .filter((k) => record[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`);
  return `{${members.join(',')}}`;
}
