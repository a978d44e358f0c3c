// Writes back to the API server what converge knows of each Container resource on its
// node, one key at a time:
// - adds the finalizer converge.dev/cleanup to a live resource, so a delete waits for it;
// - once a resource is being deleted (deletionTimestamp) and its container is gone from
//   containerd (or another source holds the key, so it is not ours to remove), removes
//   the finalizer and lets the resource go;
// - otherwise PUTs the status subresource, only when the status differs from the one on
//   the object. Writes carry the object's resourceVersion; a 409 means someone wrote in
//   between: read the latest version and try again (a few times, then back off).
// A write's answer stands in for the cached object until the watch brings that version.
// Failed writes of a key are retried with the one back-off (src/backoff.ts) on the clock.

import type { Logger } from 'pino';
import { backoffDelay } from '../../backoff.js';
import { systemClock, type Clock } from '../../clock.js';
import type { Key } from '../../spec/types.js';
import type { StatusRow } from '../../reconcile/status.js';
import { KubeApiError, type KubeClient } from '../../sources/kube/client.js';
import { originOf, type KubeObject } from '../../sources/kube/convert.js';
import { buildContainerStatus, sameStatus, type ContainerStatus } from './status.js';
import type { ControllerView } from './view.js';

export const FINALIZER = 'converge.dev/cleanup';
const CONFLICT_RETRIES = 3;

export interface WriterOptions {
  client: KubeClient;
  log: Logger;
  /** The controller's rows and the holder of each key. */
  view: ControllerView;
  /** The cached object of a key (this node's resources only). */
  objectOf: (key: Key) => KubeObject | undefined;
  /** Formatted spec problems of a key's resource. */
  problemsOf: (key: Key) => string[];
  pathOf: (obj: KubeObject) => string;
  /** Whether a resource is this node's; the latest version read after a conflict may not be. */
  mine: (obj: KubeObject) => boolean;
  backoff?: { initialMs: number; maxMs: number };
  /** Default: the system clock. */
  clock?: Clock;
}

export class StatusWriter {
  private readonly dirty = new Set<Key>();
  /** Consecutive failures per key, and the timer of its next try. */
  private readonly failures = new Map<Key, number>();
  private readonly timers = new Map<Key, unknown>();
  /** key -> the answer of our last write and the resourceVersion it was based on. */
  private readonly written = new Map<Key, { basedOn: string; result: KubeObject }>();
  private running: Promise<void> | undefined;
  private rows: Map<Key, StatusRow> | undefined;
  private stopped = false;
  private readonly clock: Clock;
  conflicts = 0;

  constructor(private readonly opts: WriterOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  poke(key: Key): void {
    if (this.stopped) return;
    this.dirty.add(key);
    this.kick();
  }

  /** Nothing queued, running or waiting for a retry. */
  idle(): boolean {
    return this.dirty.size === 0 && !this.running && this.timers.size === 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) this.clock.clearTimeout(t);
    this.timers.clear();
    await this.running;
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.dirty.size > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    this.rows = undefined; // read the controller's rows once per pass
    while (this.dirty.size > 0 && !this.stopped) {
      const key = this.dirty.values().next().value as Key;
      this.dirty.delete(key);
      try {
        await this.sync(key);
        this.failures.delete(key);
      } catch (err) {
        this.scheduleRetry(key, err);
      }
    }
  }

  private scheduleRetry(key: Key, err: unknown): void {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = backoffDelay(n - 1, { initialMs, maxMs, resetAfterMs: Infinity });
    const code = err instanceof KubeApiError ? err.code : undefined;
    this.opts.log.warn({ key, code, err, retryInMs: delay }, 'writing to the kubernetes resource failed');
    if (this.timers.has(key)) this.clock.clearTimeout(this.timers.get(key));
    this.timers.set(key, this.clock.setTimeout(() => {
      this.timers.delete(key);
      this.poke(key);
    }, delay));
  }

  private current(key: Key): KubeObject | undefined {
    const cached = this.opts.objectOf(key);
    if (!cached) {
      this.written.delete(key);
      return undefined;
    }
    const w = this.written.get(key);
    if (w && w.basedOn === cached.metadata.resourceVersion) return w.result;
    this.written.delete(key);
    return cached;
  }

  private async sync(key: Key): Promise<void> {
    let obj = this.current(key);
    for (let attempt = 0; obj; attempt++) {
      try {
        return await this.syncObject(key, obj);
      } catch (err) {
        if (err instanceof KubeApiError && err.code === 'NotFound') return;
        if (!(err instanceof KubeApiError && err.code === 'Conflict') || attempt >= CONFLICT_RETRIES) throw err;
        this.conflicts++;
        this.opts.log.info({ key, resourceVersion: obj.metadata.resourceVersion }, 'write conflict (409); retrying with the latest version');
        const fresh = await this.opts.client.request<KubeObject>('GET', this.opts.pathOf(obj));
        if (!this.opts.mine(fresh)) return; // moved to another node meanwhile: that node's converge writes it now
        this.written.set(key, { basedOn: this.opts.objectOf(key)?.metadata.resourceVersion ?? '', result: fresh });
        obj = fresh;
        this.rows = undefined;
      }
    }
  }

  private rowOf(key: Key): StatusRow | undefined {
    if (!this.rows) this.rows = new Map(this.opts.view.status().map((r) => [`${r.namespace}/${r.name}`, r]));
    return this.rows.get(key);
  }

  private async syncObject(key: Key, obj: KubeObject): Promise<void> {
    const view = this.opts.view;
    const origin = originOf(obj.metadata.namespace ?? 'default', obj.metadata.name);
    const finalizers: string[] = obj.metadata.finalizers ?? [];
    if (obj.metadata.deletionTimestamp) {
      if (!finalizers.includes(FINALIZER)) return;
      const holder = view.holder(key);
      if (holder === origin || !view.ready()) return; // the controller has not let go of it yet
      if (holder === undefined && !(await view.gone(key))) return this.writeStatus(key, obj, this.statusOf(key, obj, origin));
      await this.setFinalizers(key, obj, finalizers.filter((f) => f !== FINALIZER));
      this.opts.log.info({ key }, 'container gone; finalizer removed');
      return;
    }
    if (!finalizers.includes(FINALIZER)) obj = await this.setFinalizers(key, obj, [...finalizers, FINALIZER]);
    await this.writeStatus(key, obj, this.statusOf(key, obj, origin));
  }

  private statusOf(key: Key, obj: KubeObject, origin: string): ContainerStatus {
    const holder = this.opts.view.holder(key);
    return buildContainerStatus({
      generation: obj.metadata.generation ?? 0,
      row: holder === origin ? this.rowOf(key) : undefined,
      problems: this.opts.problemsOf(key),
      denials: this.opts.view.denials?.(key) ?? [],
      heldBy: holder !== undefined && holder !== origin ? holder : undefined,
      deleting: obj.metadata.deletionTimestamp !== undefined,
      previous: obj.status,
      now: new Date(this.clock.now()),
    });
  }

  private async writeStatus(key: Key, obj: KubeObject, status: ContainerStatus): Promise<void> {
    if (sameStatus(status, obj.status)) return;
    const result = await this.opts.client.request<KubeObject>('PUT', `${this.opts.pathOf(obj)}/status`, {
      body: { ...obj, status },
      query: { fieldManager: 'converge' },
    });
    this.remember(key, obj, result);
    this.opts.log.debug({ key, phase: status.phase, resourceVersion: result.metadata.resourceVersion }, 'status written');
  }

  private async setFinalizers(key: Key, obj: KubeObject, finalizers: string[]): Promise<KubeObject> {
    // A merge patch replaces the list whole; the resourceVersion in it makes it conditional.
    const result = await this.opts.client.request<KubeObject>('PATCH', this.opts.pathOf(obj), {
      body: { metadata: { resourceVersion: obj.metadata.resourceVersion, finalizers } },
      contentType: 'application/merge-patch+json',
      query: { fieldManager: 'converge' },
    });
    if (result?.metadata) this.remember(key, obj, result);
    return result?.metadata ? result : obj;
  }

  private remember(key: Key, before: KubeObject, result: KubeObject): void {
    const cachedRv = this.opts.objectOf(key)?.metadata.resourceVersion ?? before.metadata.resourceVersion;
    this.written.set(key, { basedOn: cachedRv, result });
  }
}

