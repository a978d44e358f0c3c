// The shape of src/, read from the code itself so that it stays true: dependencies between
// the top-level parts point one way (source -> desired -> reconcile -> runtime adapter, with
// publishing on the side and cli/ wiring it all), and files and functions stay small.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from '@babel/parser';

// The AST node kinds used here, from @babel/types (not a dependency of ours).
interface Node {
  type: string;
  loc?: { start: { line: number }; end: { line: number } } | null;
  [field: string]: unknown;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const src = path.join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** "reconcile" for src/reconcile/x.ts, "errors" for src/errors.ts. */
function partOf(file: string): string {
  const [first, ...rest] = path.relative(src, file).split(path.sep);
  return rest.length > 0 ? first : first.replace(/\.ts$/, '');
}

interface Edge {
  from: string;
  to: string;
  file: string;
  target: string;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sourceFiles(src)) {
    for (const spec of importsOf(file)) {
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
      const from = partOf(file);
      const to = partOf(target);
      if (from !== to) out.push({ from, to, file: path.relative(root, file), target: path.relative(root, target) });
    }
  }
  return out;
}

/** What each part may import besides itself; the bottom parts (errors, clock, ...) import nothing above them. */
const BASE = ['errors', 'clock', 'backoff', 'duration', 'log', 'version'];
const ALLOWED: Record<string, string[]> = {
  errors: [],
  clock: [],
  duration: [],
  log: [],
  version: [],
  backoff: ['clock'],
  spec: [...BASE],
  sources: [...BASE, 'spec', 'desired'],
  desired: [...BASE, 'spec'],
  policy: [...BASE, 'spec', 'desired'],
  reconcile: [...BASE, 'spec', 'desired'],
  pull: [...BASE, 'spec'],
  network: [...BASE, 'spec'],
  probe: [...BASE],
  logs: [...BASE],
  containerd: [...BASE, 'spec', 'reconcile', 'pull', 'network', 'probe', 'logs'],
  publish: [...BASE, 'spec', 'desired', 'reconcile', 'sources', 'logs'],
  embedded: [...BASE],
  cli: [...BASE, 'version', 'spec', 'desired', 'policy', 'reconcile', 'pull', 'network', 'containerd', 'sources', 'publish', 'embedded', 'logs'],
};

test('every top-level part of src/ imports only the parts below it', () => {
  const wrong = edges()
    .filter((e) => !(ALLOWED[e.from] ?? []).includes(e.to))
    .map((e) => `${e.file} imports ${e.target} (${e.from} -> ${e.to})`);
  assert.deepEqual([...new Set(wrong)], []);
});

test('the parts of src/ import each other without a cycle', () => {
  const graph = new Map<string, Set<string>>();
  for (const e of edges()) {
    if (!graph.has(e.from)) graph.set(e.from, new Set());
    graph.get(e.from)!.add(e.to);
  }
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, trail: string[]): void => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(node)), node].join(' -> '));
      return;
    }
    state.set(node, 'open');
    for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
    state.set(node, 'done');
  };
  for (const node of graph.keys()) visit(node, []);
  assert.deepEqual(cycles, []);
});

test('no file of src/ is over 400 lines', () => {
  const long = sourceFiles(src)
    .map((file) => ({ file: path.relative(root, file), lines: readFileSync(file, 'utf8').split('\n').length }))
    .filter((f) => f.lines > 400);
  assert.deepEqual(long, []);
});

test('no function of src/ is over 80 lines', () => {
  const long: string[] = [];
  for (const file of sourceFiles(src)) {
    walk(ast(file), (node) => {
      if (!FUNCTIONS.has(node.type) || !node.loc) return;
      // A factory whose body is mostly the object it returns reads as one table; the
      // functions inside it are measured on their own.
      const lines = span(node) - nestedLines(node);
      if (lines > 80) long.push(`${path.relative(root, file)}:${node.loc.start.line} ${lines} lines`);
    });
  }
  assert.deepEqual(long, []);
});

const FUNCTIONS = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression', 'ObjectMethod', 'ClassMethod', 'ClassPrivateMethod']);

function ast(file: string): Node {
  return parse(readFileSync(file, 'utf8'), { sourceType: 'module', plugins: ['typescript'] }) as unknown as Node;
}

/** Module specifiers of every import and re-export, type-only ones included. */
function importsOf(file: string): string[] {
  const out: string[] = [];
  walk(ast(file), (node) => {
    const source = node.source as Node | null | undefined;
    if (/^(Import|ExportNamed|ExportAll)Declaration$/.test(node.type) && source && typeof source.value === 'string') out.push(source.value);
    if (node.type === 'ImportExpression' && (node.source as Node).type === 'StringLiteral') out.push(String((node.source as Node).value));
  });
  return out;
}

/** Calls `visit` on every node below `node`; `visit` returning 'skip' does not descend. */
function walk(node: Node, visit: (n: Node) => void | 'skip'): void {
  if (visit(node) === 'skip') return;
  for (const [field, value] of Object.entries(node)) {
    if (field === 'loc' || field === 'leadingComments' || field === 'trailingComments') continue;
    for (const child of Array.isArray(value) ? value : [value]) {
      if (child && typeof child === 'object' && typeof (child as Node).type === 'string') walk(child as Node, visit);
    }
  }
}

function span(node: Node): number {
  return node.loc!.end.line - node.loc!.start.line + 1;
}

/** Lines of the functions directly nested in `fn` (they are measured on their own). */
function nestedLines(fn: Node): number {
  let total = 0;
  walk(fn, (node) => {
    if (node === fn || !FUNCTIONS.has(node.type)) return;
    total += span(node);
    return 'skip';
  });
  return total;
}
