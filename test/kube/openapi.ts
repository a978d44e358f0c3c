// /openapi/v2 (and a small /openapi/v3) of the test API server. kubectl validates
// manifests on the client against /openapi/v2, fetched as gnostic's protobuf
// (application/com.github.proto-openapi.spec.v2@v1.0+protobuf), so the document is encoded
// here by hand: a few protobuf wire-format helpers and the field numbers of gnostic's
// openapi_v2.Document / Schema messages. Custom resources are published as kube-apiserver
// does for v2: junctors (anyOf/allOf/oneOf/not) dropped, int-or-string without a type,
// metadata a reference to ObjectMeta, and x-kubernetes-group-version-kind on the kind.

import { dump } from 'js-yaml';
import type { Schema } from './schema.js';
import type { ResourceType } from './types.js';

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
const LIST_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta';

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const BASE_DEFINITIONS: Record<string, Schema> = {
  [OBJECT_META]: {
    type: 'object',
    properties: {
      name: { type: 'string' }, generateName: { type: 'string' }, namespace: { type: 'string' }, selfLink: { type: 'string' },
      uid: { type: 'string' }, resourceVersion: { type: 'string' }, generation: { type: 'integer', format: 'int64' },
      creationTimestamp: { type: 'string', format: 'date-time' }, deletionTimestamp: { type: 'string', format: 'date-time' },
      deletionGracePeriodSeconds: { type: 'integer', format: 'int64' }, labels: stringMap, annotations: stringMap,
      finalizers: { type: 'array', items: { type: 'string' } },
      ownerReferences: { type: 'array', items: { type: 'object', properties: {
        apiVersion: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' }, uid: { type: 'string' },
        controller: { type: 'boolean' }, blockOwnerDeletion: { type: 'boolean' } } } },
      managedFields: { type: 'array', items: { type: 'object', properties: {
        manager: { type: 'string' }, operation: { type: 'string' }, apiVersion: { type: 'string' }, time: { type: 'string' },
        fieldsType: { type: 'string' }, fieldsV1: { type: 'object' }, subresource: { type: 'string' } } } },
    },
  },
  [LIST_META]: { type: 'object', properties: { resourceVersion: { type: 'string' }, continue: { type: 'string' }, remainingItemCount: { type: 'integer' } } },
};

/** kube's definition name: reversed group, version, kind (dev.converge.v1alpha1.Container). */
export function definitionName(t: ResourceType, kind = t.kind): string {
  const group = t.group ? t.group.split('.').reverse().join('.') : 'io.k8s.api.core';
  return `${group}.${t.version}.${kind}`;
}

/** A CRD schema node as kube publishes it in v2. */
function toV2(node: Schema): Schema {
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    if (['anyOf', 'allOf', 'oneOf', 'not', 'nullable', 'x-kubernetes-int-or-string', 'x-kubernetes-list-type',
      'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-preserve-unknown-fields'].includes(k)) continue;
    if (k === 'properties') out.properties = Object.fromEntries(Object.entries(v as Record<string, Schema>).map(([n, s]) => [n, toV2(s)]));
    else if (k === 'items') out.items = toV2(v as Schema);
    else if (k === 'additionalProperties') out.additionalProperties = typeof v === 'object' ? toV2(v as Schema) : v;
    else out[k] = v;
  }
  if (node['x-kubernetes-int-or-string'] === true) delete out.type;
  if (node['x-kubernetes-preserve-unknown-fields'] === true) return { ...(node.description ? { description: node.description } : {}) };
  return out;
}

export function openApiV2(types: ResourceType[]): Schema {
  const definitions: Record<string, Schema> = { ...BASE_DEFINITIONS };
  for (const t of types) {
    if (!t.schema) continue;
    const gvk = [{ group: t.group, kind: t.kind, version: t.version }];
    const root = toV2(t.schema);
    root.properties = { ...(root.properties ?? {}), metadata: { $ref: `#/definitions/${OBJECT_META}` } };
    definitions[definitionName(t)] = { ...root, 'x-kubernetes-group-version-kind': gvk };
    definitions[definitionName(t, t.listKind)] = {
      type: 'object',
      required: ['items'],
      properties: {
        apiVersion: { type: 'string' }, kind: { type: 'string' },
        items: { type: 'array', items: { $ref: `#/definitions/${definitionName(t)}` } },
        metadata: { $ref: `#/definitions/${LIST_META}` },
      },
      'x-kubernetes-group-version-kind': [{ group: t.group, kind: t.listKind, version: t.version }],
    };
  }
  return { swagger: '2.0', info: { title: 'Kubernetes', version: 'v1.30.0' }, paths: {}, definitions };
}

/** /openapi/v3/apis/<group>/<version>: the group-version's schemas as components. */
export function openApiV3(types: ResourceType[]): Schema {
  const schemas: Record<string, Schema> = {};
  for (const t of types) {
    if (!t.schema) continue;
    schemas[definitionName(t)] = { ...t.schema, 'x-kubernetes-group-version-kind': [{ group: t.group, kind: t.kind, version: t.version }] };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.30.0' }, paths: {}, components: { schemas } };
}

// ---------------------------------------------------------------- protobuf wire format

function varint(n: number | bigint): Buffer {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  const bytes: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    bytes.push(b);
  } while (v > 0n);
  return Buffer.from(bytes);
}

const tag = (field: number, wire: number) => varint((field << 3) | wire);
const bytesField = (field: number, body: Buffer) => Buffer.concat([tag(field, 2), varint(body.length), body]);
const stringField = (field: number, s: string) => bytesField(field, Buffer.from(s, 'utf8'));
const boolField = (field: number, b: boolean) => Buffer.concat([tag(field, 0), varint(b ? 1 : 0)]);
const intField = (field: number, n: number) => Buffer.concat([tag(field, 0), varint(Math.trunc(n))]);
function doubleField(field: number, n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(n);
  return Buffer.concat([tag(field, 1), b]);
}

/** openapi_v2.Any carries YAML text (field 2). */
const anyOf = (value: unknown) => stringField(2, dump(value, { lineWidth: -1 }));
const namedAny = (name: string, value: unknown) => Buffer.concat([stringField(1, name), bytesField(2, anyOf(value))]);

/** openapi_v2.Schema. */
function encodeSchema(s: Schema): Buffer {
  const parts: Buffer[] = [];
  if (s.$ref) parts.push(stringField(1, s.$ref));
  if (s.format) parts.push(stringField(2, s.format));
  if (s.title) parts.push(stringField(3, s.title));
  if (s.description) parts.push(stringField(4, s.description));
  if (s.maximum !== undefined) parts.push(doubleField(7, s.maximum));
  if (s.exclusiveMaximum) parts.push(boolField(8, true));
  if (s.minimum !== undefined) parts.push(doubleField(9, s.minimum));
  if (s.exclusiveMinimum) parts.push(boolField(10, true));
  if (s.maxLength !== undefined) parts.push(intField(11, s.maxLength));
  if (s.minLength !== undefined) parts.push(intField(12, s.minLength));
  if (s.pattern) parts.push(stringField(13, s.pattern));
  if (s.maxItems !== undefined) parts.push(intField(14, s.maxItems));
  if (s.minItems !== undefined) parts.push(intField(15, s.minItems));
  for (const r of s.required ?? []) parts.push(stringField(19, r));
  for (const e of s.enum ?? []) parts.push(bytesField(20, anyOf(e)));
  if (s.additionalProperties !== undefined) {
    const item = typeof s.additionalProperties === 'object' ? bytesField(1, encodeSchema(s.additionalProperties)) : boolField(2, s.additionalProperties);
    parts.push(bytesField(21, item));
  }
  if (s.type) parts.push(bytesField(22, stringField(1, s.type)));
  if (s.items) parts.push(bytesField(23, bytesField(1, encodeSchema(s.items))));
  if (s.properties) {
    const named = Object.entries<Schema>(s.properties).map(([n, sub]) => bytesField(1, Buffer.concat([stringField(1, n), bytesField(2, encodeSchema(sub))])));
    parts.push(bytesField(25, Buffer.concat(named)));
  }
  for (const [k, v] of Object.entries(s)) if (k.startsWith('x-')) parts.push(bytesField(31, namedAny(k, v)));
  return Buffer.concat(parts);
}

/** openapi_v2.Document as protobuf. */
export function encodeDocument(doc: Schema): Buffer {
  const info = Buffer.concat([stringField(1, doc.info.title), stringField(2, doc.info.version)]);
  const defs = Object.entries<Schema>(doc.definitions).map(([n, s]) => bytesField(1, Buffer.concat([stringField(1, n), bytesField(2, encodeSchema(s))])));
  return Buffer.concat([stringField(1, doc.swagger), bytesField(2, info), bytesField(8, Buffer.alloc(0)), bytesField(9, Buffer.concat(defs))]);
}
