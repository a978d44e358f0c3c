// Host paths as the kernel will resolve them at mount time, so a bind source is checked
// for what it really is: "/srv/app/../../etc" is /etc, and "/srv/app/link" is wherever the
// link points. Components are resolved one by one, symlinks followed (at most 40, as the
// kernel does) and ".." taken from the resolved parent, not the written one. The part of a
// path that does not exist yet is appended as written, so a missing source is judged by
// where it would be, and a symlink on the way that leaves a prefix still leaves it.
//
// What is checked is then what is mounted (the resolved path goes into the OCI spec), but
// a path can change between the check and a task's start; only whoever can write inside
// an allowed prefix can make it change.

import { lstatSync, readlinkSync } from 'node:fs';

const MAX_LINKS = 40;

export interface ResolvedPath {
  /** Absolute, without "." or ".." or symlinks in the part that exists. */
  path: string;
  /** Every component exists. */
  exists: boolean;
  /** Set when resolution gave up (a symlink loop). */
  error?: string;
}

/** The file system calls resolution needs; tests may hand in their own. */
export interface PathFs {
  lstat(path: string): { isSymbolicLink(): boolean; isDirectory(): boolean };
  readlink(path: string): string;
}

const nodeFs: PathFs = { lstat: (p) => lstatSync(p), readlink: (p) => readlinkSync(p, 'utf8') };

const split = (path: string): string[] => path.split('/').filter((c) => c !== '' && c !== '.');

export function resolveHostPath(input: string, fs: PathFs = nodeFs): ResolvedPath {
  let todo = split(input);
  let parts: string[] = [];
  let links = 0;
  let missing = false;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '..') {
      parts.pop(); // the root's parent is the root
      continue;
    }
    if (missing) {
      parts.push(part);
      continue;
    }
    const here = `/${[...parts, part].join('/')}`;
    let st;
    try {
      st = fs.lstat(here);
    } catch {
      missing = true; // ENOENT, or ENOTDIR below a file: nothing below exists
      parts.push(part);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return { path: here, exists: false, error: `more than ${MAX_LINKS} symbolic links` };
      const target = fs.readlink(here);
      if (target.startsWith('/')) parts = [];
      todo = [...split(target), ...todo];
      continue;
    }
    parts.push(part);
  }
  return { path: `/${parts.join('/')}`, exists: !missing };
}

/** Whether `path` is `prefix` or below it (both absolute and resolved). */
export function isUnder(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || path.startsWith(`${p}/`);
}
