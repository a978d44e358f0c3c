// The CRD: the committed manifests/crd.yaml is what the generator makes of the one JSON
// Schema, it is a structural schema by kube-apiserver's rules, and the API server (with
// it) and converge's loader (ajv) agree on what is valid.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import { CrdGenerationError, crdSchema, crdYaml, generateCrd } from '../../src/sources/kube/crd.js';
import { ConvergeError } from '../../src/errors.js';
import { loadSchema, validateDocument } from '../../src/spec/schema.js';
import { checkStructural } from '../kube/structural.js';
import { prune, validate } from '../kube/schema.js';

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

  it('is a structural schema', () => {
    assert.deepEqual(checkStructural(crdSchema()), []);
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

  it('the structural checker finds what a real API server refuses', () => {
    const bad = { type: 'object', properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } }, spec: { properties: { a: { type: 'array' } }, additionalProperties: { type: 'string' } } } };
    const paths = checkStructural(bad).map((e) => e.path).sort();
    assert.deepEqual(paths, ['properties.metadata', 'properties.spec.additionalProperties', 'properties.spec.properties.a.items', 'properties.spec.type']);
  });
});

describe('the CRD schema and the loader agree', () => {
  const schema = crdSchema();
  const examples = [...docsIn(path.join(ROOT, 'manifests/examples')), ...docsIn(path.join(ROOT, 'examples'))];

  it('on the examples: both accept them', () => {
    assert.ok(examples.length >= 3);
    for (const { file, doc } of examples) {
      assert.deepEqual(validateDocument(doc), [], `${file}: loader`);
      assert.deepEqual(validate(schema, structuredClone(doc)), [], `${file}: CRD schema`);
    }
  });

  it('on broken documents: both refuse the same field', () => {
    const good = examples[0].doc;
    const cases: [string, (d: any) => void][] = [
      ['spec.restartPolicy', (d) => (d.spec.restartPolicy = 'Sometimes')],
      ['spec.image', (d) => delete d.spec.image],
      ['spec.workingDir', (d) => (d.spec.workingDir = 'relative')],
      ['spec.resources.limits.memory', (d) => (d.spec.resources = { limits: { memory: '64 MB' } })],
      ['spec.resources.limits.cpu', (d) => (d.spec.resources = { limits: { cpu: 'lots' } })],
      ['spec.terminationGracePeriodSeconds', (d) => (d.spec.terminationGracePeriodSeconds = -1)],
      ['spec.args', (d) => (d.spec.args = 'not a list')],
      ['spec.healthCheck.exec', (d) => (d.spec.healthCheck = { exec: [] })],
    ];
    for (const [field, breakIt] of cases) {
      const doc = structuredClone(good);
      breakIt(doc);
      assert.ok(validateDocument(doc).some((i) => i.path === field), `${field}: loader`);
      const errs = validate(schema, doc);
      assert.ok(errs.some((e) => e.field === field), `${field}: CRD schema says ${JSON.stringify(errs)}`);
    }
  });

  it('an unknown field: the loader refuses it, the API server prunes it (and reports it)', () => {
    const doc = structuredClone(examples[0].doc);
    doc.spec.imagePulPolicy = 'Never';
    assert.ok(validateDocument(doc).some((i) => /unknown field 'imagePulPolicy'/.test(i.message)));
    assert.deepEqual(prune(schema, doc), ['spec.imagePulPolicy']);
    assert.equal(doc.spec.imagePulPolicy, undefined);
  });
});
