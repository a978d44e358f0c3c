// The --listen server: /healthz (alive), /readyz (first full reconcile done), /metrics
// (Prometheus) and /v1/status (JSON rows, as `converge status` prints them),
// plus the routes its deps add (the Git source's /v1/git/sync, /v1/sources).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { StatusRow } from '../reconcile/status.js';
import { observeRows, type Metrics } from './metrics.js';

export interface ServerDeps {
  ready(): boolean;
  status(): StatusRow[];
  metrics: Metrics;
  log: Logger;
  /** Extra endpoints (e.g. the Git source's /v1/git/sync), so this file knows no source. */
  routes?: Route[];
}

/** An extra endpoint: it gets the raw body (a webhook signs the exact bytes) and answers JSON. */
export interface Route {
  method: 'GET' | 'POST';
  path: string;
  handle(req: RouteRequest): RouteResponse | Promise<RouteResponse>;
}

export interface RouteRequest {
  headers: http.IncomingHttpHeaders;
  query: URLSearchParams;
  body: Buffer;
}

export interface RouteResponse {
  status: number;
  /** Sent as JSON. */
  body: unknown;
}

/** Request bodies larger than this are refused (413) before a route sees them. */
export const MAX_BODY_BYTES = 10 << 20;

export interface StatusServer {
  /** "host:port" actually bound (port 0 picks a free one). */
  address: string;
  close(): Promise<void>;
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  if (!m) throw new Error(`--listen: expected HOST:PORT, got '${listen}'`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3]) };
}

export async function startServer(listen: string, deps: ServerDeps): Promise<StatusServer> {
  const { host, port } = parseListen(listen);
  const server = http.createServer((req, res) => {
    void handle(req, res, deps).catch((err) => {
      deps.log.error({ err: String(err), url: req.url }, 'status server request failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const address = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  deps.log.info({ address }, 'status server listening');
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, deps: ServerDeps): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  const routes = deps.routes?.filter((r) => r.path === path) ?? [];
  if (routes.length > 0) return handleRoute(req, res, routes);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  switch (path) {
    case '/healthz':
      text(res, 200, 'ok\n');
      return;
    case '/readyz':
      if (deps.ready()) text(res, 200, 'ok\n');
      else text(res, 503, 'first reconcile not done\n');
      return;
    case '/v1/status': {
      const body = JSON.stringify(deps.status());
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    case '/metrics': {
      observeRows(deps.metrics, deps.status());
      const body = await deps.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType }).end(body);
      return;
    }
    default:
      text(res, 404, 'not found\n');
  }
}

async function handleRoute(req: http.IncomingMessage, res: http.ServerResponse, routes: Route[]): Promise<void> {
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const route = routes.find((r) => r.method === method);
  if (!route) {
    res.writeHead(405, { allow: routes.map((r) => (r.method === 'GET' ? 'GET, HEAD' : r.method)).join(', ') }).end();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      res.writeHead(413, { connection: 'close' }).end();
      req.destroy();
      return;
    }
    chunks.push(chunk);
  }
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const answer = await route.handle({ headers: req.headers, query, body: Buffer.concat(chunks) });
  res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body) + '\n');
}

function text(res: http.ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
}
