// The resource types the test API server serves: three built-ins (namespaces, events and
// customresourcedefinitions) and one per served version of every CRD created through it,
// so `kubectl apply -f manifests/crd.yaml` is what makes `containers.converge.dev` exist.

import type { Schema } from './schema.js';
import { checkStructural } from './structural.js';
import type { FieldError } from './schema.js';

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  format?: string;
  description?: string;
  priority?: number;
}

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** openAPIV3Schema; absent for built-ins, which the server does not validate. */
  schema?: Schema;
  /** Whether the status subresource is enabled. */
  status: boolean;
  columns: PrinterColumn[];
  /** metadata.generation is kept (CRs and CRDs). */
  generation: boolean;
  /** Fields a field selector may name besides metadata.name/namespace (a CRD's selectableFields, without the leading dot). */
  selectable?: string[];
  /** The CRD that defines it. */
  crd?: string;
}

export const typeKey = (t: { group: string; version: string; plural: string }) => `${t.group}/${t.version}/${t.plural}`;
export const apiVersionOf = (t: ResourceType) => (t.group ? `${t.group}/${t.version}` : t.version);

export const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const BUILTINS: ResourceType[] = [
  {
    group: '', version: 'v1', plural: 'namespaces', singular: 'namespace', kind: 'Namespace', listKind: 'NamespaceList',
    namespaced: false, shortNames: ['ns'], categories: [], status: true, columns: [], generation: false,
  },
  {
    group: '', version: 'v1', plural: 'events', singular: 'event', kind: 'Event', listKind: 'EventList',
    namespaced: true, shortNames: ['ev'], categories: [], status: false, columns: [], generation: false,
  },
  {
    group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', singular: 'customresourcedefinition',
    kind: 'CustomResourceDefinition', listKind: 'CustomResourceDefinitionList', namespaced: false, shortNames: ['crd', 'crds'],
    categories: ['api-extensions'], status: true, columns: [], generation: true,
  },
];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Checks a CustomResourceDefinition as the API server would (the parts this server relies on). */
export function validateCrd(crd: any): FieldError[] {
  const errors: FieldError[] = [];
  const spec = crd.spec ?? {};
  const names = spec.names ?? {};
  const req = (field: string) => errors.push({ reason: 'FieldValueRequired', field, message: 'Required value' });
  if (!spec.group) req('spec.group');
  if (!names.plural) req('spec.names.plural');
  if (!names.kind) req('spec.names.kind');
  if (!['Namespaced', 'Cluster'].includes(spec.scope)) {
    errors.push({ reason: 'FieldValueNotSupported', field: 'spec.scope', message: `Unsupported value: ${JSON.stringify(spec.scope)}: supported values: "Cluster", "Namespaced"` });
  }
  if (names.plural && spec.group && crd.metadata?.name !== `${names.plural}.${spec.group}`) {
    errors.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: ${JSON.stringify(crd.metadata?.name)}: must be spec.names.plural+"."+spec.group` });
  }
  for (const field of ['plural', 'singular']) {
    if (names[field] && !DNS_LABEL.test(names[field])) {
      errors.push({ reason: 'FieldValueInvalid', field: `spec.names.${field}`, message: `Invalid value: ${JSON.stringify(names[field])}: a lowercase RFC 1123 label` });
    }
  }
  const versions: any[] = spec.versions ?? [];
  if (versions.length === 0) req('spec.versions');
  if (versions.filter((v) => v.storage).length !== 1) {
    errors.push({ reason: 'FieldValueInvalid', field: 'spec.versions', message: 'Invalid value: must have exactly one version marked as storage version' });
  }
  versions.forEach((v, i) => {
    const schema = v.schema?.openAPIV3Schema;
    if (!schema) return req(`spec.versions[${i}].schema.openAPIV3Schema`);
    for (const e of checkStructural(schema)) {
      errors.push({ reason: 'FieldValueForbidden', field: `spec.versions[${i}].schema.openAPIV3Schema${e.path ? `.${e.path}` : ''}`, message: `Forbidden: ${e.message}` });
    }
  });
  return errors;
}

/** The resource types a (valid) CRD defines: one per served version. */
export function typesOfCrd(crd: any): ResourceType[] {
  const spec = crd.spec;
  return (spec.versions as any[])
    .filter((v) => v.served)
    .map((v) => ({
      group: spec.group,
      version: v.name,
      plural: spec.names.plural,
      singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
      kind: spec.names.kind,
      listKind: spec.names.listKind ?? `${spec.names.kind}List`,
      namespaced: spec.scope === 'Namespaced',
      shortNames: spec.names.shortNames ?? [],
      categories: spec.names.categories ?? [],
      schema: v.schema.openAPIV3Schema,
      status: v.subresources?.status !== undefined,
      columns: v.additionalPrinterColumns ?? [],
      generation: true,
      selectable: ((v.selectableFields ?? []) as { jsonPath: string }[]).map((f) => f.jsonPath.replace(/^\./, '')),
      crd: crd.metadata.name,
    }));
}

/** The status a real API server gives an accepted CRD. */
export function crdStatus(crd: any, now: string): Record<string, unknown> {
  const names = crd.spec.names;
  return {
    acceptedNames: { kind: names.kind, listKind: names.listKind ?? `${names.kind}List`, plural: names.plural, singular: names.singular ?? '', ...(names.shortNames ? { shortNames: names.shortNames } : {}), ...(names.categories ? { categories: names.categories } : {}) },
    conditions: [
      { type: 'NamesAccepted', status: 'True', lastTransitionTime: now, reason: 'NoConflicts', message: 'no conflicts found' },
      { type: 'Established', status: 'True', lastTransitionTime: now, reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
    ],
    storedVersions: (crd.spec.versions as any[]).filter((v) => v.storage).map((v) => v.name),
  };
}
