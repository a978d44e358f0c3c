// The generated validation code beside each schema (schemas/*.validate.cjs) is what
// converge validates with; it must be what the schema compiles to today.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SCHEMA_NAMES, validatorSource } from '../../src/spec/schema-compile.js';
import { schemaPath, validatorFile } from '../../src/spec/schema.js';

for (const name of SCHEMA_NAMES) {
  test(`schemas/${name}: its committed validation code is current (else: npm run validators)`, () => {
    const committed = readFileSync(validatorFile(schemaPath(name)), 'utf8');
    assert.ok(committed === validatorSource(name), `schemas/${name} changed since its .validate.cjs was generated: run npm run validators`);
  });
}
