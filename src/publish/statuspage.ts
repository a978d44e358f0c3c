// What the --listen server needs for the status page, wired from the controller: the view
// (view.ts) with the recent actions (activity.ts), the changes that should push it, and
// GET /v1/logs/NAMESPACE/NAME?tail=N, the last lines of a container's output as JSON.

import type http from 'node:http';
import type { Source } from '../desired.js';
import type { Controller } from '../reconcile/controller.js';
import { isDnsLabel } from '../spec/schema.js';
import { Activity } from './activity.js';
import { PAGE_HEADERS, type LiveLimits } from './live.js';
import { MAX_TAIL_LINES, readLogTail, type LogTail } from './logtail.js';
import { buildView, type PageView } from './view.js';

export const LOGS_PREFIX = '/v1/logs/';
export const DEFAULT_TAIL_LINES = 20;

export interface PageDeps {
  view(): PageView;
  /** Calls `listener` whenever the view may have changed; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  /** The tail of the log of the container `namespace/name`; undefined when there is no such container. */
  logTail(namespace: string, name: string, lines: number): Promise<LogTail | undefined>;
  limits?: Partial<LiveLimits>;
}

export interface StatusPageOptions {
  controller: Pick<Controller, 'ready' | 'status' | 'store' | 'onReconcile' | 'onHealth'>;
  sources: Source[];
  /** The log file of container `id` (the runtime's logPath). */
  logFile(id: string): string;
  /** Recent actions kept. Default 100. */
  activitySize?: number;
  limits?: Partial<LiveLimits>;
}

export function createStatusPage(opts: StatusPageOptions): PageDeps & { close(): void } {
  const { controller } = opts;
  const activity = new Activity(opts.activitySize);
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of listeners) l();
  };
  const unsubscribe = [activity.follow(controller, notify), controller.onHealth(notify), controller.store.onChange(notify)];
  return {
    view: () => buildView({ ready: controller.ready, status: controller.status, store: controller.store, sources: opts.sources, activity }),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async logTail(namespace, name, lines) {
      const row = controller.status().find((r) => r.namespace === namespace && r.name === name);
      return row ? readLogTail(opts.logFile(row.id), lines) : undefined;
    },
    limits: opts.limits,
    close() {
      for (const u of unsubscribe) u();
      listeners.clear();
    },
  };
}

/** GET /v1/logs/NAMESPACE/NAME?tail=N: 400 for a malformed name or N, 404 for an unknown container. */
export async function serveLogs(req: http.IncomingMessage, res: http.ServerResponse, page: PageDeps): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const parts = url.pathname.slice(LOGS_PREFIX.length).split('/');
  const answer = (status: number, body: unknown): void => {
    res.writeHead(status, { ...PAGE_HEADERS, 'content-type': 'application/json' }).end(req.method === 'HEAD' ? undefined : JSON.stringify(body) + '\n');
  };
  if (parts.length !== 2 || !parts.every(isDnsLabel)) {
    return answer(400, { error: `expected ${LOGS_PREFIX}NAMESPACE/NAME, each a DNS-1123 label (lowercase letters, digits and "-", at most 63)` });
  }
  const tailText = url.searchParams.get('tail') ?? String(DEFAULT_TAIL_LINES);
  const tail = /^\d{1,4}$/.test(tailText) ? Number(tailText) : NaN;
  if (!(tail >= 1 && tail <= MAX_TAIL_LINES)) return answer(400, { error: `tail: expected a whole number from 1 to ${MAX_TAIL_LINES}, got '${tailText.slice(0, 20)}'` });
  const [namespace, name] = parts;
  const logs = await page.logTail(namespace, name, tail);
  if (!logs) return answer(404, { error: `no container ${namespace}/${name}` });
  answer(200, { namespace, name, ...logs });
}
