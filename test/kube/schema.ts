// The test API server's openAPIV3Schema handling, as kube-apiserver does it for custom
// resources: prune the fields the schema does not know (reporting them, for strict or warn
// field validation), then validate, with error texts in kube's field.Error wording.

export type Schema = Record<string, any>;

export interface FieldError {
  /** kube's cause reason: FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ... */
  reason: string;
  field: string;
  message: string;
}

/** ObjectMeta fields the server keeps; anything else under metadata is unknown. */
export const OBJECT_META_FIELDS = new Set([
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
]);

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/**
 * Removes unknown fields in place (as the API server's pruning does) and returns their
 * paths. The root's apiVersion/kind/metadata are always known; metadata keeps ObjectMeta.
 */
export function prune(schema: Schema, value: any): string[] {
  const unknown: string[] = [];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return unknown;
  if (value.metadata && typeof value.metadata === 'object') {
    for (const key of Object.keys(value.metadata)) {
      if (!OBJECT_META_FIELDS.has(key)) {
        unknown.push(`metadata.${key}`);
        delete value.metadata[key];
      }
    }
  }
  const props = schema.properties ?? {};
  for (const key of Object.keys(value)) {
    if (key === 'apiVersion' || key === 'kind' || key === 'metadata') continue;
    if (!(key in props) && schema['x-kubernetes-preserve-unknown-fields'] !== true) {
      unknown.push(key);
      delete value[key];
    } else if (key in props) {
      pruneNode(props[key], value[key], key, unknown);
    }
  }
  return unknown;
}

function pruneNode(schema: Schema, value: any, path: string, unknown: string[]): void {
  if (value === null || typeof value !== 'object') return;
  if (schema['x-kubernetes-preserve-unknown-fields'] === true && !schema.properties && !schema.additionalProperties) return;
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((item, i) => pruneNode(schema.items, item, `${path}[${i}]`, unknown));
    return;
  }
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    for (const key of Object.keys(value)) pruneNode(schema.additionalProperties, value[key], join(path, key), unknown);
    return;
  }
  const props = schema.properties ?? {};
  for (const key of Object.keys(value)) {
    if (key in props) pruneNode(props[key], value[key], join(path, key), unknown);
    else if (schema['x-kubernetes-preserve-unknown-fields'] !== true) {
      unknown.push(join(path, key));
      delete value[key];
    }
  }
}

/** Go's %v-ish rendering that kube uses in "Invalid value: ..." texts. */
export function render(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return 'null';
  return Array.isArray(value) ? `[]interface {}{...}` : 'map[string]interface {}{...}';
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(type: string, value: unknown): boolean {
  const actual = typeOf(value);
  return type === actual || (type === 'number' && actual === 'integer');
}

/** Every schema violation of `value` (the root object; metadata is not the schema's business). */
export function validate(schema: Schema, value: any): FieldError[] {
  const errors: FieldError[] = [];
  const rootProps = { ...(schema.properties ?? {}) };
  delete rootProps.metadata;
  validateNode({ ...schema, properties: rootProps }, value, '', errors);
  return errors;
}

function invalid(errors: FieldError[], field: string, value: unknown, detail: string): void {
  errors.push({ reason: 'FieldValueInvalid', field, message: `Invalid value: ${render(value)}: ${detail}` });
}

function validateNode(schema: Schema, value: any, path: string, errors: FieldError[]): void {
  const where = path || '<root>';
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  if (intOrString) {
    if (typeOf(value) !== 'integer' && typeof value !== 'string') {
      invalid(errors, path, typeOf(value), `${where} in body must be of type integer,string: ${render(typeOf(value))}`);
      return;
    }
  } else if (schema.type && value !== null && !typeMatches(schema.type, value)) {
    invalid(errors, path, typeOf(value), `${where} in body must be of type ${schema.type}: ${render(typeOf(value))}`);
    return;
  } else if (value === null && schema.type && schema.nullable !== true) {
    invalid(errors, path, null, `${where} in body must be of type ${schema.type}: "null"`);
    return;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(value))) {
    errors.push({
      reason: 'FieldValueNotSupported',
      field: path,
      message: `Unsupported value: ${render(value)}: supported values: ${schema.enum.map((e: unknown) => render(e)).join(', ')}`,
    });
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && [...value].length < schema.minLength) invalid(errors, path, value, `${where} in body should be at least ${schema.minLength} chars long`);
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength) errors.push({ reason: 'FieldValueTooLong', field: path, message: `Too long: may not be longer than ${schema.maxLength}` });
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) invalid(errors, path, value, `${where} in body should match '${schema.pattern}'`);
    if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) invalid(errors, path, value, `${where} in body must be of type date-time: ${render(value)}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && (schema.exclusiveMinimum ? value <= schema.minimum : value < schema.minimum)) {
      invalid(errors, path, value, `${where} in body should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${schema.minimum}`);
    }
    if (schema.maximum !== undefined && (schema.exclusiveMaximum ? value >= schema.maximum : value > schema.maximum)) {
      invalid(errors, path, value, `${where} in body should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${schema.maximum}`);
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) invalid(errors, path, value.length, `${where} in body should have at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push({ reason: 'FieldValueTooMany', field: path, message: `Too many: ${value.length}: must have at most ${schema.maxItems} items` });
    if (schema.items) value.forEach((item, i) => validateNode(schema.items, item, `${path}[${i}]`, errors));
    listType(schema, value, path, errors);
  } else if (value !== null && typeof value === 'object') {
    for (const req of schema.required ?? []) {
      if (value[req] === undefined) errors.push({ reason: 'FieldValueRequired', field: join(path, req), message: 'Required value' });
    }
    const props = schema.properties ?? {};
    for (const [key, sub] of Object.entries(value)) {
      if (key in props) validateNode(props[key], sub, join(path, key), errors);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        validateNode(schema.additionalProperties, sub, join(path, key), errors);
      }
    }
  }
  for (const [word, list] of [['anyOf', schema.anyOf], ['oneOf', schema.oneOf]] as const) {
    if (!Array.isArray(list) || intOrString) continue;
    const passing = list.filter((sub: Schema) => {
      const e: FieldError[] = [];
      validateNode(sub, value, path, e);
      return e.length === 0;
    }).length;
    if (word === 'anyOf' ? passing === 0 : passing !== 1) invalid(errors, path, value, `${where} in body must validate ${word === 'anyOf' ? 'at least one' : 'one and only one'} schema (${word})`);
  }
  for (const sub of schema.allOf ?? []) validateNode(sub, value, path, errors);
  if (schema.not) {
    const e: FieldError[] = [];
    validateNode(schema.not, value, path, e);
    if (e.length === 0) invalid(errors, path, value, `${where} in body should not validate the schema in 'not'`);
  }
}

function listType(schema: Schema, value: unknown[], path: string, errors: FieldError[]): void {
  const type = schema['x-kubernetes-list-type'];
  if (type === 'set') {
    const seen = new Set<string>();
    value.forEach((v, i) => {
      const id = JSON.stringify(v);
      if (seen.has(id)) errors.push({ reason: 'FieldValueDuplicate', field: `${path}[${i}]`, message: `Duplicate value: ${render(v)}` });
      seen.add(id);
    });
  } else if (type === 'map') {
    const keys: string[] = schema['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    value.forEach((v, i) => {
      const id = JSON.stringify(keys.map((k) => (v as Record<string, unknown>)?.[k]));
      if (seen.has(id)) errors.push({ reason: 'FieldValueDuplicate', field: `${path}[${i}]`, message: `Duplicate value: ${id}` });
      seen.add(id);
    });
  }
}
