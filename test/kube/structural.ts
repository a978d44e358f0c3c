// The structural-schema rules kube-apiserver applies to a CRD's openAPIV3Schema (see the
// Kubernetes docs, "Specifying a structural schema", and apiextensions' validation): the
// unit test runs them on the generated CRD and the test API server refuses CRDs that
// break them, as a real API server does.

import type { Schema } from './schema.js';

export interface StructuralError {
  path: string;
  message: string;
}

/** Keywords a CRD schema may never carry. */
const FORBIDDEN = ['$ref', '$schema', 'id', '$id', 'definitions', 'const', 'if', 'then', 'else', 'patternProperties',
  'dependencies', 'additionalItems', 'contains', 'propertyNames'];

/** What may not appear inside anyOf/allOf/oneOf/not (value validations only). */
const NOT_IN_JUNCTORS = ['type', 'description', 'title', 'default', 'nullable', 'additionalProperties',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource', 'x-kubernetes-int-or-string',
  'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type'];

const KNOWN_FORMATS = new Set(['bsonobjectid', 'uri', 'email', 'hostname', 'ipv4', 'ipv6', 'cidr', 'mac', 'uuid', 'uuid3',
  'uuid4', 'uuid5', 'isbn', 'isbn10', 'isbn13', 'creditcard', 'ssn', 'hexcolor', 'rgbcolor', 'byte', 'password', 'date',
  'duration', 'datetime', 'date-time', 'int32', 'int64', 'float', 'double']);

export function checkStructural(root: Schema): StructuralError[] {
  const errors: StructuralError[] = [];
  const err = (path: string, message: string) => errors.push({ path, message });
  if (root.type !== 'object') err('', 'must be of type object at the root');
  if (root.additionalProperties !== undefined) err('additionalProperties', 'must not be used at the root');
  const props = root.properties ?? {};
  for (const field of ['apiVersion', 'kind']) {
    if (props[field] && props[field].type !== 'string') err(`properties.${field}.type`, 'must be string');
  }
  if (props.metadata) {
    const { type, ...rest } = props.metadata;
    const restKeys = Object.keys(rest).filter((k) => k !== 'properties' || !Object.keys(rest.properties).every((p) => p === 'name' || p === 'generateName'));
    if (type !== 'object') err('properties.metadata.type', 'must be object');
    if (restKeys.length > 0) err('properties.metadata', 'must not specify anything other than name and generateName, but metadata is implicitly specified');
  }
  walk(root, '', 'root', errors);
  return errors;
}

function walk(node: Schema, path: string, level: 'root' | 'field' | 'item', errors: StructuralError[]): void {
  const err = (p: string, message: string) => errors.push({ path: p, message });
  const at = (word: string) => (path ? `${path}.${word}` : word);
  for (const word of FORBIDDEN) if (word in node) err(at(word), 'is forbidden in a CRD schema');
  if (node.uniqueItems === true) err(at('uniqueItems'), 'uniqueItems cannot be set to true since the runtime complexity becomes quadratic');
  if (node.properties && node.additionalProperties !== undefined) err(at('additionalProperties'), 'additionalProperties and properties are mutual exclusive');
  if (node.format !== undefined && !KNOWN_FORMATS.has(node.format)) err(at('format'), `unknown format ${JSON.stringify(node.format)}`);
  if (node.pattern !== undefined) {
    try {
      new RegExp(node.pattern, 'u');
    } catch {
      err(at('pattern'), 'must be a valid regular expression');
    }
  }
  const intOrString = node['x-kubernetes-int-or-string'] === true;
  if (!node.type && !intOrString && node['x-kubernetes-preserve-unknown-fields'] !== true) {
    err(at('type'), level === 'root' ? 'must not be empty at the root' : level === 'item' ? 'must not be empty for specified array items' : 'must not be empty for specified object fields');
  }
  if (intOrString && node['x-kubernetes-preserve-unknown-fields'] === true) err(at('x-kubernetes-preserve-unknown-fields'), 'must be false if x-kubernetes-int-or-string is true');
  if (node.type === 'array' && !node.items) err(at('items'), 'must be specified');
  if (node['x-kubernetes-list-type'] === 'map') {
    const keys: string[] = node['x-kubernetes-list-map-keys'] ?? [];
    if (keys.length === 0) err(at('x-kubernetes-list-map-keys'), 'must not be empty if x-kubernetes-list-type is map');
    for (const k of keys) {
      if (!node.items?.properties?.[k]) err(at('x-kubernetes-list-map-keys'), `entries must all be names of item properties: ${k}`);
      else if (!(node.items.required ?? []).includes(k) && node.items.properties[k].default === undefined) {
        err(at('x-kubernetes-list-map-keys'), `key ${k} must be required or have a default`);
      }
    }
  }
  for (const req of node.required ?? []) {
    if (node.properties && !(req in node.properties)) err(at('required'), `required field ${req} is not a property`);
  }
  for (const [name, sub] of Object.entries<Schema>(node.properties ?? {})) walk(sub, at(`properties.${name}`), 'field', errors);
  if (node.items) walk(node.items, at('items'), 'item', errors);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') walk(node.additionalProperties, at('additionalProperties'), 'field', errors);

  const allowedIntOrStringAnyOf = intOrString && Array.isArray(node.anyOf) && node.anyOf.length === 2 &&
    node.anyOf.every((s: Schema) => Object.keys(s).length === 1) && node.anyOf[0].type === 'integer' && node.anyOf[1].type === 'string';
  for (const junctor of ['anyOf', 'allOf', 'oneOf']) {
    if (!Array.isArray(node[junctor])) continue;
    if (junctor === 'anyOf' && allowedIntOrStringAnyOf) continue;
    node[junctor].forEach((sub: Schema, i: number) => nested(sub, at(`${junctor}[${i}]`), errors));
  }
  if (node.not) nested(node.not, at('not'), errors);
}

function nested(node: Schema, path: string, errors: StructuralError[]): void {
  for (const word of NOT_IN_JUNCTORS) if (word in node) errors.push({ path: `${path}.${word}`, message: 'must be empty to be structural' });
  if (node.properties?.metadata) errors.push({ path: `${path}.properties.metadata`, message: 'must not be specified in a nested context' });
  for (const [name, sub] of Object.entries<Schema>(node.properties ?? {})) nested(sub, `${path}.properties.${name}`, errors);
  if (node.items) nested(node.items, `${path}.items`, errors);
  for (const junctor of ['anyOf', 'allOf', 'oneOf']) {
    if (Array.isArray(node[junctor])) node[junctor].forEach((sub: Schema, i: number) => nested(sub, `${path}.${junctor}[${i}]`, errors));
  }
  if (node.not) nested(node.not, `${path}.not`, errors);
}
