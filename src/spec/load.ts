// Turns one spec file into desired containers plus problems: read (bounded), parse every
// document, validate, key and hash. A bad document contributes only problems; a file that
// cannot be parsed at all contributes one problem and no specs. Never throws for bad input.

import { resolve } from 'node:path';
import { SpecError } from './errors.js';
import { oneLine } from './quote.js';
import { toDesired } from './resolve.js';
import { validateDocument } from './schema.js';
import { DEFAULTS, keyOf, type ContainerSpec, type DesiredContainer, type Key, type Problem } from './types.js';
import { DEFAULT_MAX_BYTES, isJsonPath, lineOf, parseDocuments } from './yaml.js';

// Reading from disk has its own module; the sources and the CLI import it from here.
export { readSpecFile } from './read.js';

export interface LoadOptions {
  maxBytes?: number;
  /** Defaults to "dir:<absolute path>". */
  origin?: string;
}

export interface LoadResult {
  specs: DesiredContainer[];
  problems: Problem[];
}

/**
 * Loads one file's text; nothing is read from disk (the path only names the file and
 * decides YAML or JSON). readSpecFile() reads a file within the size limit.
 */
export function loadFile(path: string, text: string, options: LoadOptions = {}): LoadResult {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const origin = options.origin ?? `dir:${resolve(path)}`;
  let docs;
  try {
    docs = parseDocuments(text, { json: isJsonPath(path), maxBytes });
  } catch (err) {
    return { specs: [], problems: [fileProblem(path, err)] };
  }

  const specs: DesiredContainer[] = [];
  const problems: Problem[] = [];
  const firstDocOf = new Map<Key, number>();
  for (const doc of docs) {
    if (doc.value === null) continue; // an empty document ("---" at the end, comments only)
    const where = (path0: string) => {
      const line = lineOf(doc.lines, path0);
      return line === undefined ? { file: path, document: doc.index } : { file: path, document: doc.index, line };
    };
    const issues = validateDocument(doc.value);
    if (issues.length > 0) {
      const found = issues.map((issue) => ({ ...where(issue.linePath ?? issue.path), path: issue.path, message: issue.message }));
      problems.push(...found.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity)));
      continue;
    }
    const spec = doc.value as ContainerSpec;
    const namespace = spec.metadata.namespace ?? DEFAULTS.namespace;
    const key = keyOf(namespace, spec.metadata.name);
    const first = firstDocOf.get(key);
    if (first !== undefined) {
      problems.push({ ...where('metadata.name'), path: 'metadata.name', key, message: `${key} is declared again (first in document ${first}); this document is ignored` });
      continue;
    }
    firstDocOf.set(key, doc.index);
    specs.push(toDesired(spec, origin));
  }
  return { specs, problems };
}

/** A problem for a whole file that could not be read or parsed. */
export function fileProblem(file: string, err: unknown): Problem {
  if (err instanceof SpecError) {
    return err.line === undefined ? { file, path: '', message: err.message } : { file, line: err.line, path: '', message: err.message };
  }
  return { file, path: '', message: err instanceof Error ? err.message : String(err) };
}

/**
 * `specs/web.yaml: document 1 (line 12): spec.restartPolicy: must be one of Always, OnFailure, Never`
 *
 * Always one line: input in messages and paths is quoted where it enters them; oneLine()
 * is the last guard for text that reached a problem some other way (a file name with a
 * newline in it, an error of the OS). The file name is never cut: it says where to look.
 */
export function formatProblem(p: Problem): string {
  let where = oneLine(p.file, Infinity);
  if (p.document !== undefined) where += `: document ${p.document}`;
  if (p.line !== undefined) where += p.document !== undefined ? ` (line ${p.line})` : `: line ${p.line}`;
  const field = p.path === '' ? '' : `${oneLine(p.path)}: `;
  return `${where}: ${field}${oneLine(p.message)}`;
}
