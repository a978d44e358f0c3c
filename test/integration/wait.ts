// Kept so that older imports of '../integration/wait.js' (test/unit/crd-source.test.ts) still
// resolve; the helpers live in test/harness/wait.ts.

export * from '../harness/wait.js';
