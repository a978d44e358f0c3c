// GET /v1/events: the status page's live feed, as server-sent events. Each client gets the
// whole view when it connects, then again whenever it differs from the last one sent: a
// change the controller reports is pushed after a short debounce, at most once per
// minIntervalMs, and a slow look every pollMs catches what no event announces (pull
// progress, a back-off's countdown, a Git fetch). Whole views, not deltas: a client that
// missed one loses nothing, and the page stays a plain renderer.
//
// Bounds: at most maxClients streams at once (more get 503; each also counts against the
// server's connection cap), a heartbeat comment every heartbeatMs so that proxies and the
// browser see a live stream, and a client that does not read (more than maxBufferedBytes
// waiting for it) is cut off; its EventSource reconnects and starts from a fresh view.

import type http from 'node:http';
import { every, systemClock, type Clock } from '../clock.js';

export interface LiveLimits {
  /** Event streams open at once. Default 8. */
  maxClients: number;
  /** Least time between two pushes. Default 250 ms (at most 4 a second). */
  minIntervalMs: number;
  /** How often the view is compared with the last one sent, while a client listens. Default 1 s. */
  pollMs: number;
  /** Default 15 s. */
  heartbeatMs: number;
  /** Output waiting for one client beyond which it is disconnected. Default 1 MiB. */
  maxBufferedBytes: number;
}

export const DEFAULT_LIVE_LIMITS: LiveLimits = { maxClients: 8, minIntervalMs: 250, pollMs: 1000, heartbeatMs: 15_000, maxBufferedBytes: 1 << 20 };

/** The headers every answer of the status page carries, besides its content type. */
export const PAGE_HEADERS: http.OutgoingHttpHeaders = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
};

export class LiveStatus {
  private readonly clients = new Set<http.ServerResponse>();
  private readonly limits: LiveLimits;
  private readonly clock: Clock;
  private lastJson = '';
  private lastSentAt = -Infinity;
  private pending: unknown;
  private stopTimers: (() => void) | undefined;

  constructor(
    private readonly view: () => unknown,
    limits: Partial<LiveLimits> = {},
    clock: Clock = systemClock,
  ) {
    this.limits = { ...DEFAULT_LIVE_LIMITS, ...limits };
    this.clock = clock;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Answers GET /v1/events: a stream, or 503 when maxClients streams are open. */
  attach(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.clients.size >= this.limits.maxClients) {
      res.writeHead(503, { ...PAGE_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' });
      res.end(`at most ${this.limits.maxClients} status page clients at once\n`);
      return;
    }
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    this.clients.add(res);
    res.once('close', () => this.drop(res));
    // The browser waits this long before it reconnects a stream that ended.
    this.write(res, 'retry: 2000\n\n');
    const json = JSON.stringify(this.view());
    this.write(res, event(json));
    if (this.clients.size === 1) {
      this.lastJson = json;
      this.lastSentAt = this.clock.now();
    } else if (json !== this.lastJson) {
      this.changed(); // the others have an older view
    }
    if (!this.stopTimers) this.startTimers();
  }

  /** Something may have changed: push the view soon if it did. */
  changed(): void {
    if (this.clients.size === 0 || this.pending !== undefined) return;
    // A short wait gathers a burst of reconciles into one push.
    const wait = Math.max(20, this.lastSentAt + this.limits.minIntervalMs - this.clock.now());
    this.pending = this.clock.setTimeout(() => {
      this.pending = undefined;
      this.flush();
    }, wait);
  }

  /** Ends every stream and stops the timers. */
  close(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.stop();
  }

  private flush(): void {
    if (this.clients.size === 0) return;
    const json = JSON.stringify(this.view());
    if (json === this.lastJson) return;
    this.lastJson = json;
    this.lastSentAt = this.clock.now();
    const message = event(json);
    for (const res of this.clients) this.write(res, message);
  }

  private write(res: http.ServerResponse, text: string): void {
    if (res.writableLength > this.limits.maxBufferedBytes) {
      this.drop(res);
      res.destroy();
      return;
    }
    res.write(text);
  }

  private drop(res: http.ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size === 0) this.stop();
  }

  private startTimers(): void {
    const poll = every(this.clock, this.limits.pollMs, () => this.changed());
    const beat = every(this.clock, this.limits.heartbeatMs, () => {
      for (const res of this.clients) this.write(res, ': heartbeat\n\n');
    });
    this.stopTimers = () => {
      poll();
      beat();
    };
  }

  private stop(): void {
    this.stopTimers?.();
    this.stopTimers = undefined;
    if (this.pending !== undefined) this.clock.clearTimeout(this.pending);
    this.pending = undefined;
    // The next client starts a new conversation: it must be sent a view even if unchanged.
    this.lastJson = '';
  }
}

/** One SSE message; JSON.stringify puts no raw newline in it, so one data line holds it. */
function event(json: string): string {
  return `event: status\ndata: ${json}\n\n`;
}
