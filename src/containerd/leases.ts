// Leases service: holds freshly made resources (snapshots) back from containerd's garbage
// collector until something that outlives the lease references them.

import { randomBytes } from 'node:crypto';
import type { CallOptions, ContainerdClient } from './client.js';

/** containerd collects an expired lease by itself, so a crash never leaks one for long. */
export const LABEL_GC_EXPIRE = 'containerd.io/gc.expire';

export class LeasesService {
  constructor(private readonly client: ContainerdClient) {}

  /** Creates lease `id`, expiring by itself after `expireMs`. */
  async create(id: string, expireMs: number, labels: Record<string, string> = {}, opts?: CallOptions): Promise<string> {
    const expire = new Date(Date.now() + expireMs).toISOString();
    const res = await this.client.unary<{ lease: { id: string } }>(
      'leases',
      'Create',
      { id, labels: { ...labels, [LABEL_GC_EXPIRE]: expire } },
      opts,
    );
    return res.lease.id;
  }

  async delete(id: string, opts?: CallOptions): Promise<void> {
    await this.client.unary('leases', 'Delete', { id, sync: false }, opts);
  }
}

/**
 * Runs `fn` under a new lease and deletes the lease afterwards. A lease that cannot be
 * deleted is reported to `onLeak` and left to expire by itself.
 */
export async function withLease<T>(
  leases: LeasesService,
  expireMs: number,
  fn: (lease: string) => Promise<T>,
  onLeak: (err: unknown, lease: string) => void,
): Promise<T> {
  const lease = await leases.create(`converge-${Date.now()}-${randomBytes(4).toString('hex')}`, expireMs);
  try {
    return await fn(lease);
  } finally {
    await leases.delete(lease).catch((err: unknown) => onLeak(err, lease));
  }
}
