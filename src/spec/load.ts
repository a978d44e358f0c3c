// Turns one spec file into desired containers plus problems: read (bounded), parse every
// document, validate, key and hash. A bad document contributes only problems; a file that
// cannot be parsed at all contributes one problem and no specs. Never throws for bad input.

import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FileTooLargeError, FileUnreadableError, SpecError } from './errors.js';
import { toDesired } from './resolve.js';
import { validateDocument } from './schema.js';
import { DEFAULTS, keyOf, type ContainerSpec, type DesiredContainer, type Key, type Problem } from './types.js';
import { DEFAULT_MAX_BYTES, isJsonPath, lineOf, parseDocuments } from './yaml.js';

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

/** Reads a spec file asynchronously, refusing it when it is over the size limit. Throws a SpecError. */
export async function readSpecFile(path: string, maxBytes = DEFAULT_MAX_BYTES): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw unreadable(err);
  }
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) throw new FileTooLargeError(size, maxBytes);
    // The file may change between the stat and the read: read until EOF, but never more
    // than one byte past the limit.
    let buf: Buffer = Buffer.alloc(Math.min(size, maxBytes) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, n);
      n += bytesRead;
      if (bytesRead === 0 || n > maxBytes) break;
      if (n === buf.length) buf = grown(buf, maxBytes);
    }
    if (n > maxBytes) throw new FileTooLargeError(n, maxBytes);
    return buf.subarray(0, n).toString('utf8');
  } catch (err) {
    throw err instanceof SpecError ? err : unreadable(err);
  } finally {
    await handle.close();
  }
}

function grown(buf: Buffer, maxBytes: number): Buffer {
  const next = Buffer.alloc(Math.min(buf.length * 2, maxBytes + 1));
  buf.copy(next);
  return next;
}

function unreadable(err: unknown): FileUnreadableError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const what = code === 'ENOENT' ? 'file does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot read file (${code ?? String(err)})`;
  return new FileUnreadableError(what, err);
}

/** A problem for a whole file that could not be read or parsed. */
export function fileProblem(file: string, err: unknown): Problem {
  if (err instanceof SpecError) {
    return err.line === undefined ? { file, path: '', message: err.message } : { file, line: err.line, path: '', message: err.message };
  }
  return { file, path: '', message: err instanceof Error ? err.message : String(err) };
}

/** `specs/web.yaml: document 1 (line 12): spec.restartPolicy: must be one of Always, OnFailure, Never` */
export function formatProblem(p: Problem): string {
  let where = p.file;
  if (p.document !== undefined) where += `: document ${p.document}`;
  if (p.line !== undefined) where += p.document !== undefined ? ` (line ${p.line})` : `: line ${p.line}`;
  const field = p.path === '' ? '' : `${p.path}: `;
  return `${where}: ${field}${p.message}`;
}
