// Leases service: holds freshly made resources (snapshots) back from containerd's garbage
// collector until something that outlives the lease references them.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RuntimeEvent } from '../reconcile/runtime.js';
import type { CallOptions, ContainerdClient } from './client.js';
import { unlessNotFound } from './errors.js';

/** containerd collects an expired lease by itself, so a crash never leaks one for long. */
export const LABEL_GC_EXPIRE = 'containerd.io/gc.expire';

export interface Lease {
  id: string;
  labels: Record<string, string>;
}

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

  async list(opts?: CallOptions): Promise<Lease[]> {
    const res = await this.client.unary<{ leases: Array<{ id: string; labels: Record<string, string> | null }> }>('leases', 'List', { filters: [] }, opts);
    return (res.leases ?? []).map((l) => ({ id: l.id, labels: { ...l.labels } }));
  }
}

/**
 * Which of converge's leases are stale, `now`: operation leases that no operation of this
 * process holds (left by a converge that was killed mid-operation, or whose delete failed
 * while containerd was away) and any converge lease past its expiry (containerd only drops
 * those at its next GC). A pull's lease stays until it expires, so a retry resumes its blobs.
 */
export function staleLeases(leases: Lease[], inUse: ReadonlySet<string>, now: number): Lease[] {
  return leases.filter((l) => {
    if (!l.id.startsWith('converge-') || inUse.has(l.id)) return false;
    const expire = Date.parse(l.labels[LABEL_GC_EXPIRE] ?? '');
    if (Number.isFinite(expire) && expire <= now) return true;
    return !l.id.startsWith('converge-pull-');
  });
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
  inUse: Set<string> = new Set(),
): Promise<T> {
  const id = `converge-${Date.now()}-${randomBytes(4).toString('hex')}`;
  // Marked before the call: a cleanup running meanwhile must not take it for a leftover.
  inUse.add(id);
  try {
    const lease = await leases.create(id, expireMs);
    try {
      return await fn(lease);
    } finally {
      await leases.delete(lease).catch((err: unknown) => onLeak(err, lease));
    }
  } finally {
    inUse.delete(id);
  }
}

/** Deletes converge's stale leases (see staleLeases); returns how many went. Best effort. */
export async function removeStaleLeases(leases: LeasesService, inUse: ReadonlySet<string>, onError: (err: unknown, lease?: string) => void): Promise<number> {
  let removed = 0;
  try {
    for (const lease of staleLeases(await leases.list(), inUse, Date.now())) {
      try {
        await leases.delete(lease.id);
        removed += 1;
      } catch (err) {
        onError(err, lease.id);
      }
    }
  } catch (err) {
    onError(err);
  }
  return removed;
}

/**
 * The operation leases of one process: which are in use (so a cleanup leaves them alone),
 * which failed to delete (containerd away; tried again at the next listing), and the
 * cleanup after every (re)connect of the event stream.
 */
export class LeaseKeeper {
  private readonly inUse = new Set<string>();
  private readonly leaked = new Set<string>();

  constructor(
    private readonly leases: LeasesService,
    private readonly log: Logger,
  ) {}

  withLease<T>(expireMs: number, fn: (lease: string) => Promise<T>): Promise<T> {
    const onLeak = (err: unknown, lease: string): void => {
      this.log.warn({ err, lease }, 'lease not deleted; trying again at the next listing');
      this.leaked.add(lease);
    };
    return withLease(this.leases, expireMs, fn, onLeak, this.inUse);
  }

  /** Deletes, in the background, the leases whose delete failed before. */
  retryLeaked(): void {
    for (const lease of [...this.leaked]) {
      unlessNotFound(this.leases.delete(lease)).then(
        () => this.leaked.delete(lease),
        () => undefined,
      );
    }
  }

  /**
   * Passes the stream on; after every (re)connect, before the consumer resyncs, deletes the
   * leases a killed converge (or one cut off from containerd) left behind: they hold
   * content and snapshots back from the GC until they expire.
   */
  async *cleanAfterConnect(stream: AsyncIterable<RuntimeEvent>): AsyncGenerator<RuntimeEvent> {
    for await (const event of stream) {
      if (event.type === 'connected') {
        const removed = await removeStaleLeases(this.leases, this.inUse, (err, lease) => this.log.warn({ err, lease }, 'stale lease not removed'));
        if (removed > 0) this.log.info({ removed }, 'removed stale leases');
      }
      yield event;
    }
  }
}
