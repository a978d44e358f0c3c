// Network namespaces that outlive converge: each is a bind mount of a new namespace onto a
// file, as CRI runtimes keep their pods' namespaces, so a restart of converge (or of the
// container's task) finds the same namespace, with the same address, at the same path.
// Made with util-linux's unshare, which does exactly that bind mount; Node cannot unshare
// one thread of itself.

import { execFile } from 'node:child_process';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NetworkSetupError } from './errors.js';

/** statfs f_type of nsfs, the file system namespace files live on. */
const NSFS_MAGIC = 0x6e736673;

export interface NetnsOps {
  /** Creates a new network namespace pinned at `file`. */
  create(file: string): Promise<void>;
  /** Unpins and removes it; one already gone is fine. */
  remove(file: string): Promise<void>;
  /** Whether `file` holds a live namespace (a reboot leaves the file without one). */
  isMounted(file: string): Promise<boolean>;
}

function exec(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      if (err) reject(new NetworkSetupError(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

export function hostNetns(timeoutMs = 10_000): NetnsOps {
  const ops: NetnsOps = {
    async isMounted(file) {
      try {
        return (await statfs(file)).type === NSFS_MAGIC;
      } catch {
        return false;
      }
    },

    async create(file) {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      if (await ops.isMounted(file)) await ops.remove(file);
      // The mount point must exist; a file left by a reboot is reused as one.
      await writeFile(file, '', { mode: 0o444 });
      try {
        await exec('unshare', [`--net=${file}`, 'true'], timeoutMs);
      } catch (err) {
        await rm(file, { force: true });
        throw err;
      }
    },

    async remove(file) {
      if (await ops.isMounted(file)) {
        try {
          await exec('umount', [file], timeoutMs);
        } catch (err) {
          // Unmounted meanwhile by someone else is as good as done.
          if (await ops.isMounted(file)) throw err;
        }
      }
      await rm(file, { force: true });
    },
  };
  return ops;
}
