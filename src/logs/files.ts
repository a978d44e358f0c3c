// Where a container's task log lives: <state dir>/logs/<namespace>.<name>.log, and the
// files rotated out of it, <...>.log.1 (the newest) to <...>.log.<max-files - 1>.

import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';

/** The current log file of the container `namespace/name`. */
export function logFileOf(stateDir: string, key: string): string {
  const slash = key.indexOf('/');
  return path.join(stateDir, 'logs', `${key.slice(0, slash)}.${key.slice(slash + 1)}.log`);
}

/** The rotation index of `name` as a file of the log `base` (0 for the current one), or -1. */
export function rotationIndex(base: string, name: string): number {
  if (name === base) return 0;
  if (!name.startsWith(`${base}.`)) return -1;
  const rest = name.slice(base.length + 1);
  return /^[1-9]\d{0,5}$/.test(rest) ? Number(rest) : -1;
}

/** Of the names in the log's dir, those of the log `base`, oldest first, the current one last. */
export function logFileNames(base: string, names: string[]): string[] {
  return names
    .map((name) => ({ name, index: rotationIndex(base, name) }))
    .filter((f) => f.index >= 0)
    .sort((a, b) => b.index - a.index)
    .map((f) => f.name);
}

/** The files of the log `file` that exist, oldest first, the current one (if there) last. */
export async function logFiles(file: string): Promise<string[]> {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return logFileNames(base, names).map((name) => path.join(dir, name));
}

/** Removes the log `file` and every file rotated out of it. */
export async function removeLogFiles(file: string): Promise<void> {
  for (const f of await logFiles(file)) await rm(f, { force: true });
}
