// Task options for the runc v2 shim. runc keeps its state under one root per machine
// (/run/containerd/runc/<namespace>/<id> by default), shared by every containerd on it: two
// converges with their own containerds and the same namespace would collide on container
// IDs there. Each containerd address gets a root of its own under /run instead (tmpfs, so
// nothing stale survives a reboot).

import { createHash } from 'node:crypto';

/** containerd's type URL of the runc shim's options (containerd.runc.v1.Options). */
export const RUNC_OPTIONS_TYPE = 'containerd.runc.v1.Options';
/** Field 7 of containerd.runc.v1.Options: string root. */
const ROOT_FIELD = 7;

export function runcRoot(address: string): string {
  return `/run/converge/runc/${createHash('sha256').update(address).digest('hex').slice(0, 12)}`;
}

/** The options Any of a CreateTaskRequest that sets runc's root. */
export function runcOptions(root: string): { type_url: string; value: Buffer } {
  const bytes = Buffer.from(root, 'utf8');
  return { type_url: RUNC_OPTIONS_TYPE, value: Buffer.concat([Buffer.from([(ROOT_FIELD << 3) | 2]), varint(bytes.length), bytes]) };
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
