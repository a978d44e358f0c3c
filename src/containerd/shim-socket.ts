// Where a container's runc shim listens, and whether one still does. containerd's runc shim
// (1.6 to 2.x) listens at <socket dir>/<sha256 of "<containerd's address>/<namespace>/<id>">,
// and a new task of the container goes to whatever shim answers there (the shims' grouping:
// a live one is reused, not started anew). A shim whose task was just deleted keeps
// answering for a moment while it shuts down; a task made in that moment lands in a shim
// that is exiting, and its exit and delete events are never forwarded (containerd later
// reports the task exited 255). So a new task of a container whose task converge has just
// deleted waits until that shim stops answering.
//
// Hand-written: a few lines of socket code for one containerd race; no library covers it.

import { createHash } from 'node:crypto';
import { createConnection } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** containerd's default directory for shim sockets (its runtime's `socket_dir`). */
export const SHIM_SOCKET_DIR = '/run/containerd/s';

/**
 * The socket path of the shim of container `id` in `namespace`, for a containerd serving at
 * `address` (as its configuration names it: another spelling of the same path hashes to
 * another name, which then never answers, and nothing is waited for).
 */
export function shimSocketPath(address: string, namespace: string, id: string, dir = SHIM_SOCKET_DIR): string {
  const grpc = address.replace(/^unix:\/\//, '');
  return path.join(dir, createHash('sha256').update(path.join(grpc, namespace, id)).digest('hex'));
}

/**
 * Whether something accepts connections at the unix socket `file`. Only a missing socket
 * (ENOENT) or one nobody listens on (ECONNREFUSED) is "no"; a connect that does not answer
 * within `timeoutMs`, or fails otherwise, is taken for yes.
 */
export function socketAnswers(file: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path: file });
    const done = (alive: boolean): void => {
      socket.destroy();
      resolve(alive);
    };
    socket.setTimeout(timeoutMs, () => done(true));
    socket.once('connect', () => done(true));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code !== 'ENOENT' && err.code !== 'ECONNREFUSED'));
  });
}

/** Waits until nothing answers at `file`, polling every `everyMs`, for at most `maxMs`. True once it is gone. */
export async function untilSocketGone(file: string, maxMs: number, everyMs = 5): Promise<boolean> {
  const deadline = performance.now() + maxMs;
  for (;;) {
    if (!(await socketAnswers(file, everyMs * 20))) return true;
    if (performance.now() >= deadline) return false;
    await sleep(everyMs);
  }
}
