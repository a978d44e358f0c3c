// Where runc keeps what is machine-wide. runc's state lives under one root per machine
// (/run/containerd/runc/<namespace>/<id> by default) and a task's cgroup at
// /<namespace>/<id> unless the spec says otherwise, both shared by every containerd on it:
// two converges with their own containerds and the same namespace would collide on
// container IDs there (one's removal deleting the other's cgroup, or its runc state). Each
// containerd address gets its own of both instead: a runc root under /run (tmpfs, so
// nothing stale survives a reboot) and a cgroup parent.

import { createHash } from 'node:crypto';

/** containerd's type URL of the runc shim's options (containerd.runc.v1.Options). */
export const RUNC_OPTIONS_TYPE = 'containerd.runc.v1.Options';
/** Field 7 of containerd.runc.v1.Options: string root. */
const ROOT_FIELD = 7;

const addressHash = (address: string): string => createHash('sha256').update(address).digest('hex').slice(0, 12);

export function runcRoot(address: string): string {
  return `/run/converge/runc/${addressHash(address)}`;
}

/** The cgroup every task of the containerd at `address` is placed under. */
export function cgroupParent(address: string): string {
  return `/converge-${addressHash(address)}`;
}

/** linux.cgroupsPath of a task: `<parent>/<namespace>/<id>`. */
export function cgroupsPathOf(address: string, namespace: string, id: string): string {
  return `${cgroupParent(address)}/${namespace}/${id}`;
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
