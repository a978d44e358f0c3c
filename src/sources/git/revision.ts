// Reads one revision of the Git source: every spec file under the path at one commit,
// parsed and validated with the same loader as the directory source. The result is all or
// nothing for the caller: any problem (a bad document, an unreadable or oversized file, a
// name declared twice, the path missing) means the revision must not be applied. Every
// problem names the commit, the file and the field.

import { basename } from 'node:path';
import type { DesiredContainer, Key, Problem } from '../../spec/types.js';
import { fileProblem, loadFile } from '../../spec/load.js';
import { decodeSpecText } from '../../spec/read.js';
import { isSpecFile } from '../directory.js';
import type { LocalClone, TreeEntry } from './repo.js';

export interface Revision {
  commit: string;
  specs: DesiredContainer[];
  /** Empty when the revision may be applied. */
  problems: Problem[];
  /** Spec files read. */
  files: number;
}

export interface ReadRevisionOptions {
  /** The spec directory (or file) inside the repository; "" for the whole tree. */
  path: string;
  /** The repository as it may be shown (redacted URL): files are named "<display>:<path>". */
  display: string;
  maxBytes: number;
}

/** "./specs/" -> "specs"; "" and "." -> "" (the repository root). Rejects "..". */
export function normalizeRepoPath(path: string): string {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`--git-path: must stay inside the repository, got '${path}'`);
  return parts.join('/');
}

/** Whether a tree entry is a spec file: a regular file, *.yaml|*.yml|*.json, nothing hidden on the way. */
export function isSpecEntry(entry: TreeEntry, root: string): boolean {
  if (entry.type !== 'blob' || (entry.mode !== '100644' && entry.mode !== '100755')) return false; // symlinks, submodules
  const rel = root === '' ? entry.path : entry.path === root ? basename(entry.path) : entry.path.slice(root.length + 1);
  return rel.split('/').every((part) => !part.startsWith('.')) && isSpecFile(basename(rel));
}

export async function readRevision(clone: LocalClone, commit: string, opts: ReadRevisionOptions): Promise<Revision> {
  const short = commit.slice(0, 12);
  const at = (p: Problem): Problem => ({ ...p, message: `${p.message} (commit ${short})` });
  const fileName = (repoPath: string) => `${opts.display}:${repoPath}`;

  const entries = await clone.listFiles(commit, opts.path);
  if (entries === undefined) {
    const problem: Problem = {
      file: fileName(opts.path),
      path: '',
      message: 'the spec path does not exist in this commit; to remove every container it declared, leave the directory with no spec files in it (e.g. only a .keep file)',
    };
    return { commit, specs: [], problems: [at(problem)], files: 0 };
  }
  const files = entries.filter((e) => isSpecEntry(e, opts.path)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const problems: Problem[] = [];
  const wanted = files.filter((f) => {
    if (f.size <= opts.maxBytes) return true;
    problems.push(at({ file: fileName(f.path), path: '', message: `file is ${f.size} bytes, over the limit of ${opts.maxBytes}` }));
    return false;
  });
  const blobs = await clone.readBlobs([...new Set(wanted.map((f) => f.oid))]);

  const specs: DesiredContainer[] = [];
  const firstFileOf = new Map<Key, string>();
  for (const f of wanted) {
    const file = fileName(f.path);
    let text: string;
    try {
      // Strictly, as for files on disk: bytes that are not UTF-8 must not become U+FFFD args.
      text = decodeSpecText(blobs.get(f.oid)!);
    } catch (err) {
      problems.push(at(fileProblem(file, err)));
      continue;
    }
    const result = loadFile(file, text, { origin: `git:${file}`, maxBytes: opts.maxBytes });
    problems.push(...result.problems.map(at));
    for (const spec of result.specs) {
      const first = firstFileOf.get(spec.key);
      if (first !== undefined) {
        problems.push(at({ file, path: 'metadata.name', key: spec.key, message: `${spec.key} is also declared in ${first}` }));
        continue;
      }
      firstFileOf.set(spec.key, file);
      specs.push({ ...spec, revision: commit });
    }
  }
  return { commit, specs, problems, files: files.length };
}
