// Watch streams of the test API server: one JSON event per line over a chunked response,
// as kube-apiserver sends them, with BOOKMARKs when asked for, the end at timeoutSeconds,
// and a start from a resourceVersion too old answered the way kube's watch cache does it
// (200, one ERROR event carrying a 410 Status, end). The hub also lets tests cut every
// stream mid-way or hold events back.

import type http from 'node:http';
import { ApiError } from './errors.js';
import type { Store, WatchEvent } from './store.js';
import { toTable } from './table.js';
import { apiVersionOf, type ResourceType } from './types.js';

interface ActiveWatch {
  res: http.ServerResponse;
  queue: WatchEvent[];
  table?: { type: ResourceType; version: string };
  close(): void;
}

export interface WatchRequest {
  type: ResourceType;
  namespace?: string;
  query: URLSearchParams;
  /** meta.k8s.io Table version, when the client asked for tables (kubectl get -w). */
  table?: string;
}

export class WatchHub {
  private readonly active = new Set<ActiveWatch>();
  private paused = false;
  /** resourceVersions of the bookmarks sent, in order. */
  readonly bookmarks: string[] = [];

  constructor(private readonly store: Store, private readonly bookmarkMs: number) {}

  open(req: http.IncomingMessage, res: http.ServerResponse, w: WatchRequest): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    const timers: NodeJS.Timeout[] = [];
    let unsubscribe = () => {};
    const watch: ActiveWatch = {
      res,
      queue: [],
      table: w.table ? { type: w.type, version: w.table } : undefined,
      close: () => {
        unsubscribe();
        for (const t of timers) clearTimeout(t);
        this.active.delete(watch);
        if (!res.writableEnded) res.end();
      },
    };
    this.active.add(watch);
    req.on('close', () => watch.close());
    res.on('close', () => watch.close());
    const q = w.query;
    const deliver = (e: WatchEvent) => (this.paused ? watch.queue.push(e) : this.write(watch, e));
    try {
      const selectors = { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') };
      unsubscribe = this.store.watch(w.type, w.namespace, q.get('resourceVersion') ?? undefined, selectors, deliver);
    } catch (err) {
      const status = err instanceof ApiError ? err.toStatus() : new ApiError(500, 'InternalError', String(err)).toStatus();
      res.write(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
      return watch.close();
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0) timers.push(setTimeout(() => watch.close(), timeout * 1000));
    if (q.get('allowWatchBookmarks') === 'true') {
      const tick = () => {
        // A bookmark says "you have seen everything up to here": not while events are held back.
        if (!this.paused && watch.queue.length === 0) {
          const rv = String(this.store.revision);
          res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: w.type.kind, apiVersion: apiVersionOf(w.type), metadata: { resourceVersion: rv } } }) + '\n');
          this.bookmarks.push(rv);
        }
        timers.push(setTimeout(tick, this.bookmarkMs));
      };
      timers.push(setTimeout(tick, this.bookmarkMs));
    }
  }

  private write(w: ActiveWatch, e: WatchEvent): void {
    if (w.res.writableEnded) return;
    const object = w.table ? toTable(w.table.type, [e.object], e.object.metadata.resourceVersion, w.table.version) : e.object;
    w.res.write(JSON.stringify({ type: e.type, object }) + '\n');
  }

  /** Cuts every open watch mid-stream (the TCP connection, not a clean end); returns how many. */
  drop(): number {
    const n = this.active.size;
    for (const w of [...this.active]) {
      w.res.socket?.destroy();
      w.close();
    }
    return n;
  }

  closeAll(): void {
    for (const w of [...this.active]) w.close();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const w of this.active) for (const e of w.queue.splice(0)) this.write(w, e);
  }
}
