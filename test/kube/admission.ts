// Admission of a write in the test API server, in kube-apiserver's order for a custom
// resource: apiVersion/kind/namespace must match the request, unknown fields are pruned
// (an error with fieldValidation=Strict, a warning with Warn, kube's default), then the
// object is validated against the CRD's openAPIV3Schema (422 with kube's field errors).
// A CustomResourceDefinition itself must be structural, as on a real cluster.

import { badRequest, invalid } from './errors.js';
import { prune, validate, type FieldError } from './schema.js';
import type { Obj, WriteOptions } from './store.js';
import { apiVersionOf, validateCrd, type ResourceType } from './types.js';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Returns the warnings (unknown fields under Warn); throws the ApiError of a refusal. */
export function admit(t: ResourceType, ns: string | undefined, obj: Obj, opts: WriteOptions): string[] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw badRequest('the body must be a JSON object');
  if (obj.apiVersion !== apiVersionOf(t)) {
    throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersionOf(t)})`);
  }
  if (obj.kind !== t.kind) throw badRequest(`the kind in the data (${obj.kind}) does not match the expected kind (${t.kind})`);
  obj.metadata ??= {};
  if (t.namespaced) {
    if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== ns) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    obj.metadata.namespace = ns;
  } else {
    delete obj.metadata.namespace;
  }
  const warnings: string[] = [];
  if (t.schema) {
    const unknown = prune(t.schema, obj);
    const mode = opts.fieldValidation ?? 'Warn';
    if (unknown.length > 0 && mode === 'Strict') {
      throw badRequest(`strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
    }
    if (mode === 'Warn') warnings.push(...unknown.map((u) => `unknown field "${u}"`));
    const errors: FieldError[] = [];
    const name = obj.metadata.name;
    if (typeof name === 'string' && (!DNS_SUBDOMAIN.test(name) || name.length > 253)) {
      errors.push({ reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character` });
    }
    errors.push(...validate(t.schema, obj));
    if (errors.length > 0) throw invalid(t.kind, t.group, name ?? '', errors);
  }
  if (t.plural === 'customresourcedefinitions') {
    const errors = validateCrd(obj);
    if (errors.length > 0) throw invalid(t.kind, t.group, obj.metadata.name ?? '', errors);
  }
  return warnings;
}
