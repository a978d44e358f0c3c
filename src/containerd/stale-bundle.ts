// A task bundle that containerd 1.6 and 1.7 leave behind for good. When containerd dies
// after making a task's bundle directory and before the shim writes its `runtime` file,
// its next start cannot load that shim and its cleanup (`containerd-shim-runc-v2 delete`)
// fails on the missing file, so the directory stays, across every later restart of
// containerd too, and each Tasks.Create of that container answers "failed to start shim:
// mkdir <bundle>: file exists". containerd 2.0 deletes a bundle whose shim does not load;
// converge removes this one as containerd 2 would, and only when nothing can be using it.
//
// Hand-written: this is a workaround for one containerd bug, not something a library does.

import { lstat, open, readdir, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { socketAnswers } from './shim-socket.js';

/**
 * What a bundle holds until its shim has created the task (containerd 1.6/1.7's NewBundle
 * and startShim, the runc shim's start). Not init.pid: runc made the container then, and
 * only the shim's own cleanup undoes that.
 */
const EARLY_ENTRIES = new Set(['config.json', 'rootfs', 'work', 'log', 'log.json', 'options.json', 'shim-binary-path', 'runtime', 'address', 'shim.pid']);
/** How long a connect to the shim's socket may take before it is taken for alive. */
const CONNECT_TIMEOUT_MS = 1000;

/** Younger than this, the bundle may be a Create that containerd is still carrying out. */
export const STALE_AFTER_MS = 10_000;

export type StaleBundleOutcome =
  | { cleared: true; path: string }
  | { cleared: false; path?: string; why: string };

/** The bundle path named by a Create that failed on a leftover bundle, if the error is that. */
export function leftoverBundleOf(err: unknown, namespace: string, id: string): string | undefined {
  const m = /failed to start shim: mkdir (\/[^:\s]+): file exists/.exec(messageOf(err));
  if (!m) return undefined;
  const p = m[1]!;
  // Only this container's bundle of containerd's v2 runtime, named without any detour.
  if (path.resolve(p) !== p || !p.endsWith(`/io.containerd.runtime.v2.task/${namespace}/${id}`)) return undefined;
  return p;
}

/**
 * Whether a shim listens at the address the bundle names (unix://PATH). Anything but a
 * refused or missing socket counts as yes: only a shim that is surely gone lets the
 * bundle go.
 */
async function shimAnswers(file: string): Promise<boolean> {
  let address: string;
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      address = buf.subarray(0, bytesRead).toString('utf8').trim();
    } finally {
      await fh.close();
    }
  } catch {
    return true;
  }
  const m = /^unix:\/\/(\/[^\0]+)$/.exec(address);
  if (!m) return true;
  return socketAnswers(m[1]!, CONNECT_TIMEOUT_MS);
}

/**
 * Removes the bundle at `bundle` if no shim serves it (no `address` file, or nothing
 * listening where it points), it holds only what a bundle holds before its shim creates the
 * task, and nothing in it changed for STALE_AFTER_MS. No recursive delete: the rootfs directory is removed with rmdir, which
 * fails on a mounted or non-empty one, and `work` is a symlink that is unlinked, not followed.
 * The caller checks first that containerd has no task of this ID.
 */
export async function clearStaleBundle(bundle: string, now = Date.now()): Promise<StaleBundleOutcome> {
  let entries: string[];
  try {
    const st = await lstat(bundle);
    if (!st.isDirectory()) return { cleared: false, path: bundle, why: 'not a directory' };
    entries = await readdir(bundle);
  } catch (err) {
    // Gone meanwhile (cleared), or not visible from here (converge in another mount namespace).
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { cleared: false, path: bundle, why: 'not visible from converge' };
    return { cleared: false, path: bundle, why: messageOf(err) };
  }
  if (entries.includes('address') && (await shimAnswers(path.join(bundle, 'address')))) return { cleared: false, path: bundle, why: 'its shim answers' };
  const unknown = entries.filter((e) => !EARLY_ENTRIES.has(e));
  if (unknown.length > 0) return { cleared: false, path: bundle, why: `it holds ${unknown.join(', ')}` };
  let newest = (await lstat(bundle)).mtimeMs;
  for (const e of entries) newest = Math.max(newest, (await lstat(path.join(bundle, e))).mtimeMs);
  if (now - newest < STALE_AFTER_MS) return { cleared: false, path: bundle, why: 'changed in the last seconds' };
  if (entries.includes('work') && !(await lstat(path.join(bundle, 'work'))).isSymbolicLink()) return { cleared: false, path: bundle, why: 'work is not a symlink' };
  // A mounted rootfs shows its files: checked before anything is removed.
  if (entries.includes('rootfs') && (await readdir(path.join(bundle, 'rootfs'))).length > 0) return { cleared: false, path: bundle, why: 'its rootfs is not empty' };
  try {
    for (const e of entries) {
      if (e === 'rootfs') await rmdir(path.join(bundle, e));
      else await unlink(path.join(bundle, e));
    }
    await rmdir(bundle);
  } catch (err) {
    return { cleared: false, path: bundle, why: messageOf(err) };
  }
  return { cleared: true, path: bundle };
}
