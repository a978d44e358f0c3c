// Validates one parsed document against schemas/container.schema.json (the single source of
// truth) and then runs the checks that JSON Schema cannot express: quantities parse, bind
// mounts have a source, names are unique. Returns what is wrong as path + message pairs.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { isCapability, normalizeCapability } from './capabilities.js';
import { CPU_PATTERN, MEMORY_PATTERN, parseBytes, parseCpu } from './quantity.js';
import { IPV4_PATTERN, portIssues } from './ports.js';
import { quote } from './quote.js';
import { fieldPath } from './yaml.js';
import { closest } from './suggest.js';
import { DURATION_PATTERN } from '../duration.js';

export { boundedDistance, closest } from './suggest.js';

export interface SpecIssue {
  /** Field path, e.g. "spec.mounts[1].target"; "" for the document itself. */
  path: string;
  /** What was expected. */
  message: string;
  /** Where to look up the line when it differs from `path` (an unknown field's own key). */
  linePath?: string;
}

const SCHEMA_NAME = 'container.schema.json';

/**
 * A schema file of schemas/, found by walking up from this module: it sits at the package
 * root, while this module runs from src/spec/ or dist/src/spec/.
 */
export function schemaPath(name = SCHEMA_NAME): string {
  const file = join('schemas', name);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, file);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find ${file} above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export function loadSchema(name = SCHEMA_NAME): Record<string, unknown> {
  return JSON.parse(readFileSync(schemaPath(name), 'utf8')) as Record<string, unknown>;
}

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_LABEL_MSG = 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit';
const DNS_LABEL_RE = new RegExp(DNS_LABEL);

/** Whether `s` is a valid metadata.name or metadata.namespace (the schema's DNS-1123 label, at most 63 characters). */
export function isDnsLabel(s: string): boolean {
  return s.length >= 1 && s.length <= 63 && DNS_LABEL_RE.test(s);
}

/** Human words for each pattern the schema uses; a pattern missing here is shown as is. */
const PATTERN_MESSAGES: Record<string, string> = {
  [DNS_LABEL]: DNS_LABEL_MSG,
  [MEMORY_PATTERN]: 'must be a quantity of bytes such as 64Mi, 1G or 1048576',
  [CPU_PATTERN]: 'must be a quantity of CPUs such as 500m, "1.5" or 2',
  [DURATION_PATTERN]: 'must be a duration such as 250ms, 10s, 5m or 1h (or a number of seconds)',
  '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$':
    'must be a label value: letters, digits, "-", "_" and ".", starting and ending with a letter or digit',
  '^[^\\s]*$': 'must not contain whitespace',
  [IPV4_PATTERN]: 'must be an IPv4 address such as 127.0.0.1',
  '^[A-Za-z][A-Za-z_]*$': 'must be a capability name such as NET_ADMIN or CAP_NET_ADMIN, or ALL',
  '^(dir|git|kube)(:.*)?$': 'must be a glob over origins starting with dir:, git: or kube (e.g. "git:https://git.example.com/**")',
  '^[^=\\x00]+$': 'must not contain "=" or NUL',
  '^/': 'must be an absolute path (starting with "/")',
  '^/[^\\s]*$': 'must be a path starting with "/", without whitespace',
  '^[A-Za-z0-9._-]+(:[A-Za-z0-9._-]+)?$': 'must be uid[:gid], numeric or names known to the image',
  '^((SIG)?[A-Z][A-Z0-9]*|[0-9]+)$': 'must be a signal name such as SIGTERM, or a signal number',
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$':
    'must be a DNS-1123 subdomain: lowercase DNS labels joined by "."',
};

/** The validation code generated from a schema file (schema-compile.ts): beside it, .validate.cjs. */
export function validatorFile(schemaFile: string): string {
  return schemaFile.replace(/\.json$/, '.validate.cjs');
}

const loaded = new Map<string, ValidateFunction>();
const requireCjs = createRequire(import.meta.url);

/** The schema's generated validation code, loaded once, on first use (no compiling at run time). */
function validator(name: string): ValidateFunction {
  let validate = loaded.get(name);
  if (!validate) {
    validate = requireCjs(validatorFile(schemaPath(name))) as ValidateFunction;
    loaded.set(name, validate);
  }
  return validate;
}

/**
 * What JSON Schema finds wrong with `doc` against schemas/<name>, in the same words as for
 * Container documents (the policy file is checked this way too); [] when it passes.
 */
export function schemaIssues(name: string, doc: unknown, kind: string): SpecIssue[] {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return [{ path: '', message: `must be a mapping (a ${kind} document)` }];
  }
  const validate = validator(name);
  return validate(doc) ? [] : fromAjv(validate.errors ?? [], doc);
}

/** Everything wrong with one document; empty when it is a valid Container. */
export function validateDocument(doc: unknown): SpecIssue[] {
  const issues = schemaIssues(SCHEMA_NAME, doc, 'Container');
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return issues;
  issues.push(...codeChecks(doc as Record<string, unknown>));
  const seen = new Set<string>();
  return issues.filter((i) => {
    const id = `${i.path}\0${i.message}`;
    return seen.has(id) ? false : (seen.add(id), true);
  });
}

/** ajv's "/spec/mounts/1" as "spec.mounts[1]", using the data to tell indexes from keys. */
function toPath(pointer: string, doc: unknown): string {
  let path = '';
  let node: unknown = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      path = fieldPath(path, Number(seg));
      node = node[Number(seg)];
    } else {
      path = fieldPath(path, seg);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return path;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false',
  object: 'a mapping', array: 'a list',
};

function fromAjv(errors: ErrorObject[], doc: unknown): SpecIssue[] {
  // A junctor speaks for its branches. A oneOf (healthCheck: one kind of check) and an anyOf
  // that no branch's type fits (cpu 1.5) are one error; an anyOf of typed forms (dependsOn:
  // a name or a mapping) whose form the data has is that form's errors alone.
  const dropped: string[] = [];
  const silent = new Set<ErrorObject>();
  for (const j of errors) {
    if (j.keyword !== 'anyOf' && j.keyword !== 'oneOf') continue;
    const branches = (j.schema as Array<{ type?: string }> | undefined) ?? [];
    const fits = j.keyword === 'anyOf' ? branches.findIndex((b) => b.type !== undefined && typeFits(b.type, j.data)) : -1;
    if (fits >= 0) silent.add(j);
    branches.forEach((_b, i) => i !== fits && dropped.push(`${j.schemaPath}/${i}/`));
  }
  const out: SpecIssue[] = [];
  for (const e of errors) {
    if (silent.has(e) || dropped.some((prefix) => e.schemaPath.startsWith(prefix))) continue;
    const at = toPath(e.instancePath, doc);
    const p = e.params as Record<string, unknown>;
    switch (e.keyword) {
      case 'required':
        out.push({ path: fieldPath(at, String(p.missingProperty)), message: 'is required', linePath: at });
        break;
      case 'additionalProperties': {
        const field = String(p.additionalProperty);
        const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
        const near = closest(field, known);
        const hint = near ? ` (did you mean ${quote(near)}?)` : '';
        out.push({ path: at, message: `unknown field ${quote(field)}${hint}`, linePath: fieldPath(at, field) });
        break;
      }
      case 'enum':
        out.push({ path: at, message: `must be one of ${(p.allowedValues as unknown[]).join(', ')}` });
        break;
      case 'type':
        out.push({ path: at, message: `must be ${TYPE_WORDS[String(p.type)] ?? String(p.type)}` });
        break;
      case 'anyOf': {
        const types = ((e.schema as Array<{ type?: string }> | undefined) ?? []).map((b) => TYPE_WORDS[String(b.type)] ?? String(b.type));
        const fraction = typeof e.data === 'number' && !Number.isInteger(e.data);
        const hint = fraction ? ` (write a fraction as a string: "${e.data}")` : '';
        out.push({ path: at, message: `must be ${types.join(' or ')}${hint}` });
        break;
      }
      case 'oneOf':
        out.push({ path: at, message: oneOfMessage(e) });
        break;
      case 'pattern':
        out.push({ path: at, message: PATTERN_MESSAGES[String(p.pattern)] ?? `must match ${String(p.pattern)}` });
        break;
      case 'minLength':
        out.push({ path: at, message: p.limit === 1 ? 'must not be empty' : `must be at least ${p.limit} characters` });
        break;
      case 'maxLength':
        out.push({ path: at, message: `must be at most ${p.limit} characters` });
        break;
      case 'maxItems':
        out.push({ path: at, message: `must have at most ${p.limit} item${p.limit === 1 ? '' : 's'}` });
        break;
      case 'minItems':
        out.push({ path: at, message: `must have at least ${p.limit} item${p.limit === 1 ? '' : 's'}` });
        break;
      case 'minimum':
      case 'maximum':
        out.push({ path: at, message: `must be ${String(p.comparison)} ${p.limit}` });
        break;
      default:
        out.push({ path: at, message: e.message ?? `fails ${e.keyword}` });
    }
  }
  return out;
}

/** Whether JSON data is of a JSON Schema type. */
function typeFits(type: string, data: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof data === 'string';
    case 'integer':
      return Number.isInteger(data);
    case 'number':
      return typeof data === 'number';
    case 'boolean':
      return typeof data === 'boolean';
    case 'array':
      return Array.isArray(data);
    case 'object':
      return data !== null && typeof data === 'object' && !Array.isArray(data);
    default:
      return false;
  }
}

/** "must have exactly one of exec, httpGet, tcpSocket" for a oneOf of `required` branches. */
function oneOfMessage(e: ErrorObject): string {
  const branches = (e.schema as Array<{ required?: string[] }> | undefined) ?? [];
  const names = branches.map((b) => b.required?.[0]).filter((n): n is string => typeof n === 'string');
  return names.length === branches.length && names.length > 0 ? `must have exactly one of ${names.join(', ')}` : 'must match exactly one of its forms';
}

const obj = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const MEMORY_RE = new RegExp(MEMORY_PATTERN);
const CPU_RE = new RegExp(CPU_PATTERN);
/** containerd's limit on identifiers (container IDs, snapshot keys). */
const MAX_ID_LENGTH = 76;
const SIGNAL_SHAPE = /^((SIG)?[A-Z][A-Z0-9]*|[0-9]+)$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Checks beyond JSON Schema. Written defensively: the document may also have failed the schema. */
function codeChecks(doc: Record<string, unknown>): SpecIssue[] {
  const out: SpecIssue[] = [];
  const metadata = obj(doc.metadata) ?? {};
  const spec = obj(doc.spec) ?? {};

  for (const key of Object.keys(obj(metadata.labels) ?? {})) {
    const path = fieldPath('metadata.labels', key);
    const slash = key.lastIndexOf('/');
    const prefix = slash < 0 ? '' : key.slice(0, slash);
    const name = key.slice(slash + 1);
    if (prefix === 'converge.dev' || prefix.endsWith('.converge.dev')) {
      out.push({ path, message: 'label keys with the converge.dev/ prefix are reserved for converge' });
    } else if (!LABEL_NAME.test(name) || name.length > 63 || (slash >= 0 && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))) {
      out.push({ path, message: 'must be a label key: [prefix/]name, name at most 63 letters, digits, "-", "_" or "." starting and ending with a letter or digit, prefix a DNS subdomain' });
    }
  }

  // The containerd ID is "<namespace>.<name>", and containerd refuses IDs over 76 characters.
  const ns = typeof metadata.namespace === 'string' ? metadata.namespace : 'default';
  if (typeof metadata.name === 'string' && ns.length + 1 + metadata.name.length > MAX_ID_LENGTH) {
    out.push({
      path: 'metadata.name',
      message: `namespace and name together must be at most ${MAX_ID_LENGTH - 1} characters (the containerd ID ${quote(`${ns}.${metadata.name}`, { mark: '"' })} is ${ns.length + 1 + metadata.name.length}, containerd's limit is ${MAX_ID_LENGTH})`,
    });
  }

  const limits = obj(obj(spec.resources)?.limits) ?? {};
  quantity(out, 'spec.resources.limits.memory', limits.memory, MEMORY_RE, parseBytes);
  quantity(out, 'spec.resources.limits.cpu', limits.cpu, CPU_RE, parseCpu);

  const targets = new Map<string, string>();
  list(spec.mounts).forEach((raw, i) => {
    const m = obj(raw);
    if (!m) return;
    const at = fieldPath('spec.mounts', i);
    if (m.type === 'bind' && m.source === undefined) {
      out.push({ path: fieldPath(at, 'source'), message: 'is required for a bind mount', linePath: at });
    }
    if (m.type === 'tmpfs' && m.source !== undefined) out.push({ path: fieldPath(at, 'source'), message: 'is only for bind mounts' });
    if (m.type === 'bind' && m.sizeLimit !== undefined) out.push({ path: fieldPath(at, 'sizeLimit'), message: 'is only for tmpfs mounts' });
    quantity(out, fieldPath(at, 'sizeLimit'), m.sizeLimit, MEMORY_RE, parseBytes);
    if (typeof m.target === 'string') {
      const target = m.target.replace(/\/+$/, '') || '/';
      const first = targets.get(target);
      if (first) out.push({ path: fieldPath(at, 'target'), message: `mounts ${quote(target)} again (also ${first})` });
      else targets.set(target, fieldPath(at, 'target'));
    }
  });

  const envNames = new Map<string, string>();
  list(spec.env).forEach((raw, i) => {
    const name = obj(raw)?.name;
    if (typeof name !== 'string') return;
    const at = fieldPath(fieldPath('spec.env', i), 'name');
    const first = envNames.get(name);
    if (first) out.push({ path: at, message: `duplicate variable ${quote(name)} (also ${first})` });
    else envNames.set(name, at);
  });

  const deps = new Set<string>();
  list(spec.dependsOn).forEach((item, i) => {
    const name = typeof item === 'string' ? item : obj(item)?.name;
    if (typeof name !== 'string') return;
    const at = typeof item === 'string' ? fieldPath('spec.dependsOn', i) : fieldPath(fieldPath('spec.dependsOn', i), 'name');
    if (name === metadata.name) out.push({ path: at, message: 'must not name the container itself' });
    else if (deps.has(name)) out.push({ path: at, message: `lists ${quote(name)} twice` });
    deps.add(name);
  });

  out.push(...portIssues(spec));
  // httpGet and tcpSocket go from converge to the container's address: with network none
  // (its own network namespace, loopback only) there is none converge can reach.
  const check = obj(spec.healthCheck);
  const network = spec.network ?? 'none';
  if (check && network === 'none') {
    for (const kind of ['httpGet', 'tcpSocket']) {
      if (check[kind] !== undefined) {
        out.push({ path: fieldPath('spec.healthCheck', kind), message: 'needs network host or bridge (converge cannot reach a container with network none); use exec' });
      }
    }
  }

  const signal = spec.stopSignal;
  if (typeof signal === 'string' && SIGNAL_SHAPE.test(signal) && !validSignal(signal)) {
    out.push({ path: 'spec.stopSignal', message: `unknown signal ${quote(signal)}` });
  }
  out.push(...securityChecks(spec));
  return out;
}

/** Capability names the kernel knows, none both added and dropped; no root with runAsNonRoot. */
function securityChecks(spec: Record<string, unknown>): SpecIssue[] {
  const out: SpecIssue[] = [];
  const ctx = obj(spec.securityContext) ?? {};
  const caps = obj(ctx.capabilities) ?? {};
  const named = new Map<string, string>();
  for (const field of ['add', 'drop']) {
    list(caps[field]).forEach((name, i) => {
      if (typeof name !== 'string' || !/^[A-Za-z][A-Za-z_]*$/.test(name)) return;
      const at = fieldPath(fieldPath(`spec.securityContext.capabilities`, field), i);
      if (!isCapability(name)) return void out.push({ path: at, message: `unknown capability ${quote(name)}` });
      const normal = normalizeCapability(name);
      const other = named.get(normal);
      if (other && !other.includes(`.${field}[`)) out.push({ path: at, message: `${quote(name)} is both added and dropped (also ${other})` });
      named.set(normal, at);
    });
  }
  // A numeric root user is known now; a named one is checked when the image says who it is.
  if (ctx.runAsNonRoot === true && typeof spec.user === 'string' && /^0+(:|$)/.test(spec.user)) {
    out.push({ path: 'spec.user', message: 'is root (uid 0), which securityContext.runAsNonRoot forbids' });
  }
  return out;
}

function quantity(
  out: SpecIssue[],
  path: string,
  value: unknown,
  pattern: RegExp,
  parse: (q: string | number) => number,
): void {
  // Only what the schema let through: absent, mistyped or malformed values are already reported.
  const typed = typeof value === 'string' ? pattern.test(value) : pattern === CPU_RE && Number.isInteger(value);
  if (!typed) return;
  try {
    if (parse(value as string | number) <= 0) out.push({ path, message: 'must be more than 0' });
  } catch (err) {
    out.push({ path, message: err instanceof Error ? err.message : String(err) });
  }
}

function validSignal(signal: string): boolean {
  if (/^[0-9]+$/.test(signal)) return Number(signal) >= 1 && Number(signal) <= 64;
  const name = signal.startsWith('SIG') ? signal : `SIG${signal}`;
  return Object.hasOwn(osConstants.signals, name);
}
