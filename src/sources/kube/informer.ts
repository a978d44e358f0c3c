// List+watch of one collection into a local cache, as client-go's reflector does it: list,
// then watch from the list's resourceVersion with bookmarks; a clean end of the watch
// resumes from the last resourceVersion seen (an event's or a bookmark's); 410 Gone (or a
// resourceVersion the server finds too large) relists; any other failure retries with
// the one exponential back-off (src/backoff.ts, ±20 % jitter) on an injected clock, or
// after the server's retryAfterSeconds when that is longer (a 429 while its cache fills),
// keeping the cache as it was. The cache only ever holds the objects `keep` accepts (this node's),
// so a resource moved to another node leaves it.
//
// With a `fieldSelector` (spec.nodeName=<node>, which the CRD declares selectable), the API
// server sends only this node's objects, so a node neither reads nor holds every other
// node's specs. A server that cannot select on the field (no selectableFields: before
// Kubernetes 1.30, or the gate off) answers 400; the informer then lists and watches
// everything and `keep` filters, as before.
//
// Why not client-node's ListWatch: it does not ask for bookmarks, stops for good on any
// error other than 410 (the caller must restart it and cannot tell "relisted" from
// "reconnected"), and says nothing when the cache becomes stale or fresh again, which is
// what the source's `complete` flag and problems are made of.

import type { Logger } from 'pino';
import { Backoff, sleepOn } from '../../backoff.js';
import { systemClock, type Clock } from '../../clock.js';
import { KubeApiError, fromStatus, type KubeClient, type Status } from './client.js';
import type { KubeObject } from './convert.js';

export interface InformerOptions {
  client: KubeClient;
  /** The collection, e.g. /apis/converge.dev/v1alpha1/containers. */
  path: string;
  log: Logger;
  keep: (obj: KubeObject) => boolean;
  /** After every change of the cache or of `synced`. */
  onChange: () => void;
  /** Retry delays: doubling from initialMs to maxMs, ±20 % jitter. Default 200 ms to 30 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** Asked of the server with every list and watch; dropped for good when the server answers 400 to it. */
  fieldSelector?: string;
  /** Asked of the server per watch; spread over [n, 2n) so many nodes do not reconnect at once. Default 300. */
  watchTimeoutSeconds?: number;
  /** What the retries wait on. Default: the system clock. */
  clock?: Clock;
}

export interface InformerStats {
  lists: number;
  watches: number;
  relistsAfterGone: number;
  bookmarks: number;
}

const idOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class Informer {
  /** namespace/name -> object, for the objects `keep` accepts. */
  readonly objects = new Map<string, KubeObject>();
  resourceVersion = '';
  /** The cache reflects a successful list (and the watch since); false while the API is unreachable. */
  synced = false;
  lastError: KubeApiError | undefined;
  readonly stats: InformerStats = { lists: 0, watches: 0, relistsAfterGone: 0, bookmarks: 0 };
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private lastListAt = 0;
  private firstAttempt: (() => void) | undefined;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  /** The field selector in use: the option's, until the server refuses it. */
  fieldSelector: string | undefined;

  constructor(private readonly opts: InformerOptions) {
    this.fieldSelector = opts.fieldSelector;
    this.clock = opts.clock ?? systemClock;
    const { initialMs, maxMs } = opts.backoff ?? { initialMs: 200, maxMs: 30_000 };
    // Only progress resets the delay (see run()), never the mere passing of time.
    this.backoff = new Backoff({ initialMs, maxMs, resetAfterMs: Infinity, jitter: 0.2 }, this.clock);
  }

  /** Starts the loop; resolves once the first list has succeeded or failed. */
  start(): Promise<void> {
    const first = new Promise<void>((resolve) => (this.firstAttempt = resolve));
    this.loop = this.run();
    return first;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.firstAttempt?.();
    await this.loop;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.resourceVersion) await this.relist();
        const began = this.clock.now();
        const events = await this.watchOnce();
        // A watch that the server ended cleanly and at once, with nothing in it, is no
        // progress: do not reconnect in a hot loop.
        if (events > 0 || this.clock.now() - began > 1000) this.backoff.reset();
        else await this.backoff.sleep(this.abort.signal);
      } catch (err) {
        if (this.stopped) break;
        await this.failed(err);
      }
    }
  }

  /** After a failed list or watch: relist at once on 410, else keep the cache and back off. */
  private async failed(err: unknown): Promise<void> {
    const e = err instanceof KubeApiError ? err : new KubeApiError('Unavailable', String(err), 0, '', { cause: err });
    if (e.code === 'BadRequest' && this.fieldSelector !== undefined) {
      this.opts.log.warn({ fieldSelector: this.fieldSelector, reason: e.message }, 'the API server cannot select on the field; reading every resource and filtering here');
      this.fieldSelector = undefined;
      this.resourceVersion = '';
      return;
    }
    if (e.code === 'Gone' || e.code === 'TooLargeResourceVersion') {
      this.stats.relistsAfterGone++;
      this.opts.log.info({ resourceVersion: this.resourceVersion, reason: e.message }, 'resourceVersion no longer served; relisting');
      this.resourceVersion = '';
      // A server that answers 410 to the list's own resourceVersion must not make us list in a hot loop.
      if (this.clock.now() - this.lastListAt < 1000) await this.backoff.sleep(this.abort.signal);
      return;
    }
    this.lastError = e;
    const wait = Math.max(this.backoff.next(), e.retryAfterMs);
    this.opts.log.warn({ code: e.code, err: e, retryInMs: wait, resourceVersion: this.resourceVersion }, 'kubernetes list/watch failed; keeping the last known resources');
    if (this.synced) {
      this.synced = false;
      this.opts.onChange();
    }
    this.firstAttempt?.();
    this.firstAttempt = undefined;
    await sleepOn(this.clock, wait, this.abort.signal);
  }

  private async relist(): Promise<void> {
    const list = await this.opts.client.request<{ metadata?: { resourceVersion?: string }; items?: KubeObject[]; kind?: string; apiVersion?: string }>('GET', this.opts.path, {
      query: { fieldSelector: this.fieldSelector },
    });
    this.stats.lists++;
    this.lastListAt = this.clock.now();
    this.objects.clear();
    const itemKind = list.kind?.replace(/List$/, '');
    for (const item of list.items ?? []) {
      // Items of a list may come without apiVersion/kind; the document needs them.
      const obj = { apiVersion: list.apiVersion, kind: itemKind, ...item } as KubeObject;
      if (this.opts.keep(obj)) this.objects.set(idOf(obj), obj);
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    this.synced = true;
    this.lastError = undefined;
    this.opts.log.info({ resourceVersion: this.resourceVersion, kept: this.objects.size, listed: list.items?.length ?? 0 }, 'listed resources');
    this.opts.onChange();
    this.firstAttempt?.();
    this.firstAttempt = undefined;
  }

  /** One watch, until the server ends it; returns how many events (bookmarks included) came. */
  private async watchOnce(): Promise<number> {
    const base = this.opts.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = base + Math.floor(Math.random() * base);
    const query = { resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds), fieldSelector: this.fieldSelector };
    const stream = await this.opts.client.watch(this.opts.path, query, this.abort.signal, (timeoutSeconds + 30) * 1000);
    this.stats.watches++;
    this.opts.log.debug({ resourceVersion: this.resourceVersion }, 'watching');
    if (!this.synced) {
      this.synced = true;
      this.lastError = undefined;
      this.opts.log.info({ resourceVersion: this.resourceVersion }, 'kubernetes watch reconnected');
      this.opts.onChange();
    }
    let n = 0;
    for await (const event of stream) {
      n++;
      const obj = event.object as KubeObject;
      switch (event.type) {
        case 'ERROR':
          throw fromStatus(obj as Status);
        case 'BOOKMARK':
          this.stats.bookmarks++;
          this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
          continue;
        case 'ADDED':
        case 'MODIFIED':
          if (this.opts.keep(obj)) this.objects.set(idOf(obj), obj);
          else if (!this.objects.delete(idOf(obj))) break;
          this.opts.onChange();
          break;
        case 'DELETED':
          if (this.objects.delete(idOf(obj))) this.opts.onChange();
          break;
      }
      this.resourceVersion = obj.metadata?.resourceVersion ?? this.resourceVersion;
    }
    return n;
  }
}
