// Bounded parsing of spec files: YAML (multi-document) or JSON, into plain values plus the
// line of every field, so that a problem can name where it is. Input is untrusted: the size,
// the number of documents and the expansion of aliases are all capped before values are
// built, and only the YAML 1.2 core schema (plus merge keys) is understood: no custom tags.

import {
  CORE_SCHEMA,
  EVENT_ID,
  YAMLException,
  constructFromEvents,
  getScalarValue,
  mergeTag,
  parseEvents,
  type Event,
} from 'js-yaml';
import {
  FileTooLargeError,
  JsonSyntaxError,
  TooManyAliasesError,
  TooManyDocumentsError,
  YamlSyntaxError,
} from './errors.js';
import { parseEventsAllowingFlowTabs } from './flowtabs.js';
import { oneLine, quote } from './quote.js';

export const DEFAULT_MAX_BYTES = 1024 * 1024;
/** Nodes per document after aliases are expanded; a real spec has a few hundred. */
export const DEFAULT_MAX_NODES = 100_000;
export const DEFAULT_MAX_DOCUMENTS = 1000;

export interface ParseOptions {
  /** Parse as one JSON document rather than YAML; see isJsonPath. */
  json?: boolean;
  maxBytes?: number;
  maxNodes?: number;
  maxDocuments?: number;
}

export interface ParsedDocument {
  /** 0-based index in the file. */
  index: number;
  /** null for an empty document. */
  value: unknown;
  /** Field path (as fieldPath builds it) -> 1-based line; "" is the document itself. */
  lines: Map<string, number>;
}

/** Merge keys (`<<: *base`) are common in compose-style files, so they are allowed. */
const SCHEMA = CORE_SCHEMA.withTags(mergeTag);

export function isJsonPath(path: string): boolean {
  return path.toLowerCase().endsWith('.json');
}

/**
 * Longest key a field path shows whole: every valid label key (a 253-character prefix, "/"
 * and a 63-character name) fits. Longer keys are cut (see quote), so two keys alike in
 * their first 320 characters share a path, and a problem may name the other one's line.
 */
const PATH_KEY_MAX = 320;

/**
 * `spec.mounts[1].target`; keys that are not plain identifiers are quoted and escaped:
 * `labels["a.b/c"]`, `spec["a\nb"]`. Paths end up in problems, so a key cannot break a line.
 */
export function fieldPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (key.length <= PATH_KEY_MAX && /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${quote(key, { mark: '"', max: PATH_KEY_MAX })}]`;
}

/** The line of a path, or of its nearest ancestor that has one. */
export function lineOf(lines: Map<string, number>, path: string): number | undefined {
  let p = path;
  for (;;) {
    const line = lines.get(p);
    if (line !== undefined) return line;
    if (p === '') return undefined;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    p = cut < 0 ? '' : p.slice(0, cut);
  }
}

/** Parses a whole file. Throws a SpecError (with a line when known) when it cannot. */
export function parseDocuments(text: string, options: ParseOptions = {}): ParsedDocument[] {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const size = Buffer.byteLength(text, 'utf8');
  if (size > maxBytes) throw new FileTooLargeError(size, maxBytes);
  return options.json ? parseJson(text) : parseYaml(text, options);
}

function parseYaml(text: string, options: ParseOptions): ParsedDocument[] {
  let events: Event[];
  try {
    events = parseEventsAllowingFlowTabs(text);
  } catch (err) {
    throw toSyntaxError(err);
  }
  const scan = scanEvents(text, events, {
    maxNodes: options.maxNodes ?? DEFAULT_MAX_NODES,
    maxDocuments: options.maxDocuments ?? DEFAULT_MAX_DOCUMENTS,
  });
  let values: unknown[];
  try {
    values = constructFromEvents(events, { source: text, schema: SCHEMA, maxAliases: 10_000 });
  } catch (err) {
    throw toSyntaxError(err);
  }
  return values.map((value, index) => ({ index, value: value ?? null, lines: scan.lines[index] ?? new Map() }));
}

function parseJson(text: string): ParsedDocument[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new JsonSyntaxError(jsonReason(message), jsonErrorLine(text, message), err);
  }
  // Positions come from reading the same text as YAML (JSON is YAML 1.2 flow syntax); that
  // also finds duplicate keys, which JSON.parse would silently resolve to the last one.
  let lines = new Map<string, number>();
  try {
    const scan = scanEvents(text, parseEvents(text, {}), { maxNodes: Infinity, maxDocuments: 1 });
    lines = scan.lines[0] ?? lines;
  } catch (err) {
    if (err instanceof YamlSyntaxError && err.message.startsWith('duplicated mapping key')) {
      throw new JsonSyntaxError(err.message, err.line);
    }
    // Otherwise positions are a nicety: the value parsed, so go on without them.
  }
  return [{ index: 0, value, lines }];
}

/**
 * V8's message without what it appends: the position (the line says it better) or a quote
 * of the input around the error, whole or cut short with "..." on either side. That quote
 * is raw input; the one character it is about is quoted and escaped instead.
 */
function jsonReason(message: string): string {
  const token = /^Unexpected token '([\s\S]*?)', (?:\.\.\.)?"[\s\S]*"(?:\.\.\.)? is not valid JSON$/.exec(message);
  if (token) return `Unexpected token ${quote(token[1])}`;
  return oneLine(message.replace(/\s*\(line \d+ column \d+\)$/, ''));
}

function jsonErrorLine(text: string, message: string): number | undefined {
  const lc = /\(line (\d+) column \d+\)/.exec(message);
  if (lc) return Number(lc[1]);
  const offset = jsonErrorOffset(text);
  return offset === undefined ? undefined : lineAt(newlineOffsets(text), offset);
}

/**
 * Where JSON.parse gave up, found by a small recursive-descent scan: V8's messages do not
 * always say ("Unexpected token '}', ... is not valid JSON").
 */
function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const string = () => {
    for (i++; i < text.length && text[i] !== '"'; i++) {
      if (text[i] === '\\') i++;
      else if (text.charCodeAt(i) < 0x20) fail();
    }
    if (i >= text.length) fail();
    i++;
  };
  const value = (): void => {
    ws();
    const open = text[i];
    if (open === '{' || open === '[') {
      const close = open === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        if (open === '{') {
          ws();
          if (text[i] !== '"') fail();
          string();
          ws();
          if (text[i] !== ':') fail();
          i++;
        }
        value();
        ws();
        if (text[i] === close) return void i++;
        if (text[i] !== ',') fail();
        i++;
      }
    }
    if (open === '"') return string();
    const atom = /^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!atom) fail();
    i += atom![0].length;
  };
  try {
    value();
    ws();
    return i < text.length ? i : undefined;
  } catch (at) {
    return typeof at === 'number' ? at : undefined; // a RangeError: nested too deep to say
  }
}

function toSyntaxError(err: unknown): YamlSyntaxError {
  if (err instanceof YAMLException) {
    const line = err.mark ? err.mark.line + 1 : undefined;
    // js-yaml's reasons repeat input (an alias name, a tag): escaped like any input.
    return new YamlSyntaxError(oneLine(err.reason), line, err);
  }
  return new YamlSyntaxError(oneLine(err instanceof Error ? err.message : String(err)), undefined, err);
}

function newlineOffsets(text: string): number[] {
  const out: number[] = [];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) out.push(i);
  return out;
}

/** 1-based line of a 0-based offset, given the offsets of every newline. */
function lineAt(newlines: number[], offset: number): number {
  let lo = 0;
  let hi = newlines.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (newlines[mid] < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo + 1;
}

interface Frame {
  kind: 'doc' | 'map' | 'seq';
  /** Field path of this collection; null below a complex (non-scalar) mapping key. */
  path: string | null;
  /** Nodes in this subtree with aliases expanded. */
  size: number;
  anchor: string | null;
  /** Children seen so far (sequence index; for a mapping, keys and values alternate). */
  children: number;
  key: string | null;
  keyLine: number;
  keys: Set<string>;
}

/**
 * One pass over the events: counts nodes with every alias expanded to the size of its
 * anchor (so a "billion laughs" file is refused before any value is built) and records the
 * line of every field path.
 */
function scanEvents(
  text: string,
  events: Event[],
  limits: { maxNodes: number; maxDocuments: number },
): { lines: Map<string, number>[] } {
  const newlines = newlineOffsets(text);
  const docs: Map<string, number>[] = [];
  const stack: Frame[] = [];
  let anchors = new Map<string, number>();
  let total = 0;
  let aliases = 0;
  let lines = new Map<string, number>();

  const frame = (kind: Frame['kind'], path: string | null, anchor: string | null): Frame => ({
    kind, path, size: 1, anchor, children: 0, key: null, keyLine: 0, keys: new Set(),
  });
  const anchorOf = (ev: { anchorStart: number; anchorEnd: number }) =>
    ev.anchorStart < 0 ? null : text.slice(ev.anchorStart, ev.anchorEnd);

  /** Places a node in its parent; returns its path (null when it is a mapping key). */
  const place = (offset: number, scalarKey: string | null): string | null | undefined => {
    const parent = stack[stack.length - 1];
    const slot = parent.children++;
    if (parent.kind === 'doc') {
      if (offset >= 0) lines.set('', lineAt(newlines, offset));
      return '';
    }
    if (parent.path === null) return null;
    if (parent.kind === 'seq') {
      const path = fieldPath(parent.path, slot);
      if (offset >= 0) lines.set(path, lineAt(newlines, offset));
      return path;
    }
    if (slot % 2 === 0) {
      parent.key = scalarKey;
      parent.keyLine = offset >= 0 ? lineAt(newlines, offset) : 0;
      if (scalarKey !== null && scalarKey !== '<<') {
        if (parent.keys.has(scalarKey)) {
          throw new YamlSyntaxError(`duplicated mapping key ${quote(scalarKey)}`, parent.keyLine || undefined);
        }
        parent.keys.add(scalarKey);
      }
      return undefined;
    }
    if (parent.key === null) return null;
    const path = fieldPath(parent.path, parent.key);
    if (parent.keyLine > 0) lines.set(path, parent.keyLine);
    return path;
  };
  const grow = (n: number, offset: number) => {
    stack[stack.length - 1].size += n;
    total += n;
    if (total > limits.maxNodes) {
      const line = offset >= 0 ? lineAt(newlines, offset) : undefined;
      const why = aliases > 0 ? ' through aliases' : '';
      throw new TooManyAliasesError(`document expands to more than ${limits.maxNodes} nodes${why}`, line);
    }
  };

  for (const ev of events) {
    switch (ev.type) {
      case EVENT_ID.DOCUMENT:
        if (docs.length >= limits.maxDocuments) throw new TooManyDocumentsError(docs.length + 1, limits.maxDocuments);
        lines = new Map();
        docs.push(lines);
        anchors = new Map();
        total = 0;
        stack.push(frame('doc', '', null));
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE: {
        const path = place(ev.start, null);
        grow(1, ev.start);
        stack.push(frame(ev.type === EVENT_ID.MAPPING ? 'map' : 'seq', path ?? null, anchorOf(ev)));
        break;
      }
      case EVENT_ID.SCALAR: {
        const key = ev.valueStart >= 0 ? getScalarValue(text, ev) : '';
        place(ev.valueStart, key);
        grow(1, ev.valueStart);
        const anchor = anchorOf(ev);
        if (anchor !== null) anchors.set(anchor, 1);
        break;
      }
      case EVENT_ID.ALIAS: {
        aliases++;
        place(ev.anchorStart, null);
        grow(anchors.get(text.slice(ev.anchorStart, ev.anchorEnd)) ?? 1, ev.anchorStart);
        break;
      }
      case EVENT_ID.POP: {
        const done = stack.pop();
        if (done && done.kind !== 'doc') {
          if (done.anchor !== null) anchors.set(done.anchor, done.size);
          // grow() already counted the subtree's nodes into `total`; only the parent's size changes.
          stack[stack.length - 1].size += done.size - 1;
        }
        break;
      }
    }
  }
  return { lines: docs };
}
