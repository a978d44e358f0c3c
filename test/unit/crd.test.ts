// The CRD: the committed manifests/crd.yaml is what the generator makes of the one JSON
// Schema, in the shape kube-apiserver wants, and the loader (ajv) takes the examples. That
// the real API server accepts it, and agrees with the loader on what is valid, is
// test/integration/kube-manifests.test.ts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import { CrdGenerationError, crdSchema, crdYaml, generateCrd } from '../../src/sources/kube/crd.js';
import { ConvergeError } from '../../src/errors.js';
import { loadSchema, validateDocument } from '../../src/spec/schema.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const COMMITTED = path.join(ROOT, 'manifests/crd.yaml');

const docsIn = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => (loadAll(readFileSync(path.join(dir, f), 'utf8')) as any[]).filter(Boolean).map((doc) => ({ file: f, doc })));

describe('CRD generation', () => {
  it('the committed manifests/crd.yaml is the generated one (run `npm run crd` after a schema change)', () => {
    assert.equal(readFileSync(COMMITTED, 'utf8'), crdYaml());
  });

  it('keeps no additionalProperties beside properties, no metadata body, every node typed', () => {
    const text = JSON.stringify(crdSchema());
    assert.doesNotMatch(text, /"additionalProperties":false/);
    const schema = crdSchema() as any;
    assert.deepEqual(schema.properties.metadata, { type: 'object' });
    assert.deepEqual(schema.required, ['spec']);
    assert.equal(schema.properties.spec.properties.resources.properties.limits.properties.cpu['x-kubernetes-int-or-string'], true);
    assert.ok(schema.properties.status, 'the status subresource has a schema, else the API server prunes it all');
  });

  it('names, scope, status subresource and printer columns', () => {
    const crd = generateCrd() as any;
    assert.equal(crd.metadata.name, 'containers.converge.dev');
    assert.deepEqual(crd.spec.names.shortNames, ['ctr']);
    assert.equal(crd.spec.scope, 'Namespaced');
    const v = crd.spec.versions[0];
    assert.deepEqual([v.name, v.served, v.storage, v.subresources], ['v1alpha1', true, true, { status: {} }]);
    assert.deepEqual(v.additionalPrinterColumns.map((c: any) => c.name), ['Node', 'Phase', 'Restarts', 'Age', 'IP']);
  });

  it('refuses a schema that cannot become structural', () => {
    const base = loadSchema();
    const withSpec = (spec: object) => ({ ...base, properties: { ...(base as any).properties, spec } });
    for (const [what, spec] of [
      ['$ref', { type: 'object', properties: { a: { $ref: '#/x' } } }],
      ['const', { type: 'object', properties: { a: { type: 'string', const: 'x' } } }],
      ['untyped node', { type: 'object', properties: { a: { description: 'no type' } } }],
      ['additionalProperties beside properties', { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } }],
      ['uniqueItems', { type: 'object', properties: { a: { type: 'array', items: { type: 'string' }, uniqueItems: true } } }],
      ['type in anyOf', { type: 'object', properties: { a: { type: 'string', anyOf: [{ type: 'string', pattern: 'x' }] } } }],
    ] as const) {
      assert.throws(
        () => crdSchema(withSpec(spec)),
        (err: unknown) => err instanceof CrdGenerationError && err instanceof ConvergeError && err.code === 'CRD_UNSUPPORTED_SCHEMA' && err.name === 'CrdGenerationError',
        what,
      );
    }
  });
});

describe('the loader and the examples', () => {
  const examples = [...docsIn(path.join(ROOT, 'manifests/examples')), ...docsIn(path.join(ROOT, 'examples'))];

  it('takes every example', () => {
    assert.ok(examples.length >= 3);
    for (const { file, doc } of examples) assert.deepEqual(validateDocument(doc), [], file);
  });
});
