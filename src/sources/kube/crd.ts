// Generates the CustomResourceDefinition of `containers.converge.dev` from the one JSON
// Schema (schemas/container.schema.json), so the loader (ajv) and the API server check the
// same rules. `converge crd` prints it; manifests/crd.yaml is its committed output and a
// unit test fails when the two differ.
//
// What changes on the way from JSON Schema to a structural schema a kube-apiserver accepts:
// - `additionalProperties: false` is dropped everywhere: a structural schema may not have it
//   beside `properties`; the API server prunes (or, with strict field validation, rejects)
//   unknown fields instead.
// - `metadata` becomes `{type: object}`: the API server validates ObjectMeta itself and
//   forbids a CRD to restrict anything but name/generateName. Our stricter name rules
//   (DNS-1123 label, length of the containerd ID) are checked by converge and reported on
//   the resource's status.
// - `apiVersion` and `kind` keep only `type: string` (the API server sets and checks them),
//   and the root requires only `spec`.
// - `status` is added: what converge writes through the status subresource (see publish/kube/status.ts).
// - A node that may be a string or an object (an item of dependsOn) is marked
//   `x-kubernetes-preserve-unknown-fields` and has no type; its anyOf of typed forms has no
//   place in a structural schema, so the CRD drops it: the API server keeps the item as
//   written and converge checks it (a bad one shows as InvalidSpec on the status).
// Anything a structural schema cannot hold ($ref, const, if/then/else, ...) is an error
// here, so a schema edit that would break the CRD fails the build's tests, not a cluster.

import { dump } from 'js-yaml';
import { ConvergeError } from '../../errors.js';
import { loadSchema } from '../../spec/schema.js';

export const GROUP = 'converge.dev';
export const VERSION = 'v1alpha1';
export const PLURAL = 'containers';
export const KIND = 'Container';
export const CRD_NAME = `${PLURAL}.${GROUP}`;

type JsonSchema = Record<string, unknown>;

/** The JSON Schema holds something a structural CRD schema cannot; `path` is where. */
export class CrdGenerationError extends ConvergeError {
  declare readonly code: 'CRD_UNSUPPORTED_SCHEMA';

  constructor(readonly path: string, message: string) {
    super('CRD_UNSUPPORTED_SCHEMA', `${path || '(root)'}: ${message}`);
  }
}

/** Keywords a structural schema cannot carry (or that kube-apiserver refuses in a CRD). */
const FORBIDDEN = ['$ref', '$schema', '$id', 'id', 'definitions', '$defs', 'const', 'if', 'then', 'else',
  'patternProperties', 'dependencies', 'dependentSchemas', 'dependentRequired', 'additionalItems', 'contains',
  'propertyNames', 'unevaluatedProperties', 'unevaluatedItems', 'examples'];

/** Keywords copied as they are. */
const KEPT = new Set(['type', 'description', 'enum', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'minItems', 'maxItems', 'multipleOf', 'format', 'required', 'nullable',
  'x-kubernetes-int-or-string', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'minProperties', 'maxProperties']);

function convert(node: JsonSchema, path: string, nested = false): JsonSchema {
  const out: JsonSchema = {};
  for (const [word, value] of Object.entries(node)) {
    if (FORBIDDEN.includes(word)) throw new CrdGenerationError(path, `'${word}' has no place in a structural schema`);
    if (word === 'uniqueItems') {
      if (value === true) throw new CrdGenerationError(path, "'uniqueItems: true' is not allowed in a CRD schema");
      continue;
    }
    if (word === 'title') continue;
    if (word === 'additionalProperties') {
      if (value === false) continue; // pruning does this job in the API server
      if (node.properties !== undefined) throw new CrdGenerationError(path, "'additionalProperties' beside 'properties'");
      out[word] = value === true ? { 'x-kubernetes-preserve-unknown-fields': true } : convert(value as JsonSchema, `${path}.additionalProperties`, nested);
      continue;
    }
    if (word === 'properties') {
      const props: JsonSchema = {};
      for (const [name, sub] of Object.entries(value as Record<string, JsonSchema>)) props[name] = convert(sub, path ? `${path}.${name}` : name, nested);
      out[word] = props;
      continue;
    }
    if (word === 'items') {
      if (Array.isArray(value)) throw new CrdGenerationError(path, 'tuple items are not allowed');
      out[word] = convert(value as JsonSchema, `${path}[]`, nested);
      continue;
    }
    if (word === 'anyOf' && node['x-kubernetes-preserve-unknown-fields'] === true && node.type === undefined) continue;
    if (word === 'anyOf' || word === 'allOf' || word === 'oneOf') {
      out[word] = (value as JsonSchema[]).map((sub, i) => valueCheckOnly(sub, `${path}.${word}[${i}]`, node));
      continue;
    }
    if (word === 'not') {
      out[word] = valueCheckOnly(value as JsonSchema, `${path}.not`, node);
      continue;
    }
    if (!KEPT.has(word)) throw new CrdGenerationError(path, `unknown keyword '${word}'`);
    out[word] = value;
  }
  if (!nested && out.type === undefined && out['x-kubernetes-int-or-string'] !== true && out['x-kubernetes-preserve-unknown-fields'] !== true) {
    throw new CrdGenerationError(path, "every node of a structural schema needs a 'type'");
  }
  return out;
}

/**
 * Inside anyOf/allOf/oneOf/not only value checks may appear; the one exception kube allows
 * is `x-kubernetes-int-or-string` with `anyOf: [{type: integer}, {type: string}]`.
 */
function valueCheckOnly(node: JsonSchema, path: string, parent: JsonSchema): JsonSchema {
  const intOrString = parent['x-kubernetes-int-or-string'] === true && Object.keys(node).length === 1 &&
    (node.type === 'integer' || node.type === 'string');
  if (intOrString) return { ...node };
  for (const word of ['type', 'description', 'title', 'default', 'nullable', 'additionalProperties', 'x-kubernetes-int-or-string',
    'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource', 'x-kubernetes-list-type', 'x-kubernetes-map-type']) {
    if (word in node) throw new CrdGenerationError(path, `'${word}' inside a junctor is not structural`);
  }
  return convert(node, path, true);
}

const ISO_TIME = { type: 'string', format: 'date-time' };

/** What converge writes back (publish/kube/status.ts builds it); metav1.Condition for the conditions. */
export const STATUS_SCHEMA: JsonSchema = {
  description: 'What converge last saw of the container on its node; written by converge through the status subresource.',
  type: 'object',
  properties: {
    observedGeneration: { description: 'The metadata.generation this status is about.', type: 'integer', format: 'int64', minimum: 0 },
    phase: { description: 'Pending, Created, Running, Exited, BackOff, Failed, Updating, Removing, Invalid or Conflict.', type: 'string' },
    containerID: { description: 'containerd container ID: <namespace>.<name>.', type: 'string' },
    pid: { description: 'Host pid of the running task.', type: 'integer', format: 'int64' },
    restartCount: { type: 'integer', format: 'int32', minimum: 0 },
    exitCode: { description: 'Exit code of the last exited task.', type: 'integer', format: 'int32' },
    startedAt: { description: 'When converge last started the task.', ...ISO_TIME },
    ip: { description: 'Its address on converge\'s bridge (network: bridge).', type: 'string' },
    ports: { description: 'What it publishes on the node, as docker shows it: 127.0.0.1:18080->8080/tcp.', type: 'array', items: { type: 'string' } },
    message: { type: 'string' },
    health: { description: 'Starting, Healthy or Unhealthy: the running task\'s health check, when the spec has one.', type: 'string' },
    conditions: {
      description: 'Ready, Progressing and Degraded (and Healthy, with a health check), in the Kubernetes conventions.',
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: {
        type: 'object',
        required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
        properties: {
          type: { type: 'string', maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
          lastTransitionTime: ISO_TIME,
          reason: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
          message: { type: 'string', maxLength: 32768 },
        },
      },
    },
  },
};

/** The openAPIV3Schema of the CRD, from the JSON Schema. */
export function crdSchema(schema: JsonSchema = loadSchema()): JsonSchema {
  const props = { ...(schema.properties as Record<string, JsonSchema>) };
  const { metadata: _m, apiVersion: _a, kind: _k, ...rest } = props;
  const root = convert({ ...schema, properties: rest, required: ((schema.required as string[]) ?? []).filter((r) => !['apiVersion', 'kind', 'metadata'].includes(r)) }, '');
  return {
    ...root,
    properties: {
      apiVersion: { description: 'converge.dev/v1alpha1', type: 'string' },
      kind: { description: 'Container', type: 'string' },
      metadata: { type: 'object' },
      ...(root.properties as JsonSchema),
      status: STATUS_SCHEMA,
    },
  };
}

/** The whole CustomResourceDefinition object. */
export function generateCrd(schema?: JsonSchema): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: CRD_NAME },
    spec: {
      group: GROUP,
      names: { kind: KIND, listKind: `${KIND}List`, plural: PLURAL, singular: 'container', shortNames: ['ctr'], categories: ['converge'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          // Lets each node's converge ask the API server for its own resources only
          // (fieldSelector=spec.nodeName=<node>; Kubernetes 1.30+, GA in 1.32). A server
          // that refuses the selector gets converge filtering by itself (informer.ts).
          selectableFields: [{ jsonPath: '.spec.nodeName' }],
          additionalPrinterColumns: [
            { name: 'Node', type: 'string', jsonPath: '.spec.nodeName' },
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Restarts', type: 'integer', jsonPath: '.status.restartCount' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
            // -o wide, as a Pod's IP is.
            { name: 'IP', type: 'string', jsonPath: '.status.ip', priority: 1 },
          ],
          schema: { openAPIV3Schema: crdSchema(schema) },
        },
      ],
    },
  };
}

export const CRD_HEADER = '# Generated by `converge crd` from schemas/container.schema.json (src/sources/kube/crd.ts).\n# Do not edit: change the schema, then run `npm run crd`.\n';

/** The CRD as the YAML committed in manifests/crd.yaml. */
export function crdYaml(schema?: JsonSchema): string {
  return CRD_HEADER + dump(generateCrd(schema), { lineWidth: -1, noRefs: true });
}
