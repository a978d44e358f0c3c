// Reads a policy file (--policy FILE) the way spec files are read: bounded, a regular file
// only, strict UTF-8, YAML or JSON, validated by its own JSON Schema
// (schemas/policy.schema.json, ajv) plus what a schema cannot say (capability names). A bad
// file is a PolicyError whose problems name the file, the line, the field and what was
// expected, the same quality of error as a bad spec.

import { ConvergeError } from '../errors.js';
import { isCapability } from '../spec/capabilities.js';
import { fileProblem, formatProblem, readSpecFile } from '../spec/load.js';
import { quote } from '../spec/quote.js';
import { schemaIssues, type SpecIssue } from '../spec/schema.js';
import type { Problem } from '../spec/types.js';
import { fieldPath, isJsonPath, lineOf, parseDocuments } from '../spec/yaml.js';
import type { Policy, PolicyDocument } from './types.js';

export const POLICY_SCHEMA = 'policy.schema.json';
const MAX_POLICY_BYTES = 1024 * 1024;

/** A policy file that cannot be used; `problems` say every reason. */
export class PolicyError extends ConvergeError {
  declare readonly code: 'POLICY_INVALID';
  constructor(readonly problems: Problem[]) {
    super('POLICY_INVALID', `invalid policy: ${problems.map(formatProblem).join('; ')}`);
  }
}

/** What JSON Schema cannot check: capability names are ones the kernel knows. */
function codeChecks(doc: Record<string, unknown>): SpecIssue[] {
  const out: SpecIssue[] = [];
  const rules = Array.isArray(doc.rules) ? doc.rules : [];
  rules.forEach((rule: unknown, i) => {
    const caps = (rule as { allow?: { capabilities?: unknown } } | null)?.allow?.capabilities;
    if (!Array.isArray(caps)) return;
    caps.forEach((cap: unknown, j) => {
      if (typeof cap === 'string' && /^[A-Za-z][A-Za-z_]*$/.test(cap) && !isCapability(cap)) {
        out.push({ path: fieldPath(fieldPath(fieldPath(fieldPath('rules', i), 'allow'), 'capabilities'), j), message: `unknown capability ${quote(cap)}` });
      }
    });
  });
  return out;
}

/** The policy in `text` (read from `file`); throws PolicyError. */
export function parsePolicy(file: string, text: string): Policy {
  let docs;
  try {
    docs = parseDocuments(text, { json: isJsonPath(file), maxBytes: MAX_POLICY_BYTES }).filter((d) => d.value !== null);
  } catch (err) {
    throw new PolicyError([fileProblem(file, err)]);
  }
  if (docs.length !== 1) {
    throw new PolicyError([{ file, path: '', message: `must hold exactly one Policy document, found ${docs.length}` }]);
  }
  const [doc] = docs;
  const issues = schemaIssues(POLICY_SCHEMA, doc.value, 'Policy');
  if (issues.length === 0) issues.push(...codeChecks(doc.value as Record<string, unknown>));
  if (issues.length > 0) {
    throw new PolicyError(issues.map((i) => {
      const line = lineOf(doc.lines, i.linePath ?? i.path);
      return line === undefined ? { file, path: i.path, message: i.message } : { file, line, path: i.path, message: i.message };
    }));
  }
  return { rules: (doc.value as PolicyDocument).rules, file };
}

/** Reads and checks a policy file; throws PolicyError. */
export async function loadPolicyFile(file: string): Promise<Policy> {
  let text: string;
  try {
    text = await readSpecFile(file, MAX_POLICY_BYTES);
  } catch (err) {
    throw new PolicyError([fileProblem(file, err)]);
  }
  return parsePolicy(file, text);
}
