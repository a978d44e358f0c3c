// The --listen server: /healthz (alive), /readyz (first full reconcile done), /metrics
// (Prometheus) and /v1/status (JSON rows, as `converge status` prints them); with a status
// page, / (page.ts), /v1/events (its live feed, live.ts) and /v1/logs/NS/NAME (statuspage.ts);
// plus the routes its deps add (the Git source's /v1/git/sync, /v1/sources). HTTPS with a
// certificate; bounds on bodies, connections and slow clients, and the rule for who may
// call a mutating route, are guard.ts's.

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { StatusRow } from '../reconcile/status.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits, checkBearer, exposureWarnings, hostAllowed, isLoopbackHost, mutationRefusal, readBody, serverOptions } from './guard.js';
import { observeRows, type Metrics } from './metrics.js';
import { LiveStatus } from './live.js';
import { servePage } from './page.js';
import { LOGS_PREFIX, serveLogs, type PageDeps } from './statuspage.js';

export { MAX_BODY_BYTES } from './guard.js';

export interface ServerDeps {
  ready(): boolean;
  status(): StatusRow[];
  metrics: Metrics;
  log: Logger;
  /** Extra endpoints (e.g. the Git source's /v1/git/sync), so this file knows no source. */
  routes?: Route[];
  security?: ServerSecurity;
  /** Serve the status page (GET /, /v1/events, /v1/logs/...); without it those are 404. */
  page?: PageDeps;
}

export interface ServerSecurity {
  /** The bearer token of mutating routes (--listen-token-file). */
  token?: string;
  /** Serve HTTPS with this certificate chain and key (PEM). */
  tls?: { cert: Buffer; key: Buffer };
  /** Bounds; DEFAULT_SERVER_LIMITS where not given. */
  limits?: Partial<ServerLimits>;
}

/** An extra endpoint: it gets the raw body (a webhook signs the exact bytes) and answers JSON. */
export interface Route {
  method: 'GET' | 'POST';
  path: string;
  /**
   * The route checks a proof of its own (a webhook signature), so a POST without the bearer
   * token reaches it on any address; it must then refuse what it cannot verify.
   */
  verifies?: boolean;
  handle(req: RouteRequest): RouteResponse | Promise<RouteResponse>;
}

export interface RouteRequest {
  headers: http.IncomingHttpHeaders;
  query: URLSearchParams;
  body: Buffer;
  /** The request carried the right bearer token: no further proof is needed. */
  authorized: boolean;
}

export interface RouteResponse {
  status: number;
  /** Sent as JSON. */
  body: unknown;
}

export interface StatusServer {
  /** "host:port" actually bound (port 0 picks a free one). */
  address: string;
  /** "https" with a certificate, else "http". */
  scheme: 'http' | 'https';
  close(): Promise<void>;
}

interface Context {
  deps: ServerDeps;
  limits: ServerLimits;
  token?: string;
  /** The listener takes connections from this machine only. */
  loopback: boolean;
  live?: LiveStatus;
}

/** HOST:PORT, [V6]:PORT, :PORT or a bare PORT; loopback unless a host is given. */
export function parseListen(listen: string): { host: string; port: number } {
  if (/^\d{1,5}$/.test(listen)) return { host: '127.0.0.1', port: Number(listen) };
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  if (!m) throw new Error(`--listen: expected HOST:PORT, got '${listen}'`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3]) };
}

export async function startServer(listen: string, deps: ServerDeps): Promise<StatusServer> {
  const { host, port } = parseListen(listen);
  const sec = deps.security ?? {};
  const ctx: Context = { deps, limits: { ...DEFAULT_SERVER_LIMITS, ...sec.limits }, token: sec.token, loopback: isLoopbackHost(host) };
  const live = deps.page && new LiveStatus(deps.page.view, deps.page.limits);
  const unfollow = live && deps.page!.onChange(() => live.changed());
  ctx.live = live;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void handle(req, res, ctx).catch((err) => {
      deps.log.error({ err, url: req.url }, 'status server request failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  };
  const options = serverOptions(ctx.limits);
  const server = sec.tls ? https.createServer({ ...options, cert: sec.tls.cert, key: sec.tls.key }, handler) : http.createServer(options, handler);
  server.maxConnections = ctx.limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const address = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  const scheme = sec.tls ? 'https' : 'http';
  deps.log.info({ address, scheme }, 'status server listening');
  warnExposure(ctx, address, scheme);
  return {
    address,
    scheme,
    close: () =>
      new Promise<void>((resolve) => {
        unfollow?.();
        live?.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Says so when the listener is reachable from the network without TLS, or its mutating routes refuse everything. */
function warnExposure(ctx: Context, address: string, scheme: 'http' | 'https'): void {
  const routes = ctx.deps.routes ?? [];
  const open = routes.filter((r) => r.method === 'POST' && !r.verifies).map((r) => r.path);
  for (const w of exposureWarnings({ loopback: ctx.loopback, scheme, tokenSet: ctx.token !== undefined, unverifiedPosts: open })) {
    ctx.deps.log.warn({ address, ...w.fields }, w.msg);
  }
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, ctx: Context): Promise<void> {
  const { deps } = ctx;
  const path = (req.url ?? '/').split('?')[0];
  const routes = deps.routes?.filter((r) => r.path === path) ?? [];
  if (routes.length > 0) return handleRoute(req, res, routes, ctx);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const pagePath = path === '/' || path === '/v1/events' || path.startsWith(LOGS_PREFIX);
  if (deps.page && pagePath && !hostAllowed(req.headers.host, ctx.loopback)) {
    return text(res, 403, 'the status page on a loopback listener answers only to a loopback Host (127.0.0.1, [::1], localhost)\n');
  }
  if (deps.page && path.startsWith(LOGS_PREFIX)) return serveLogs(req, res, deps.page);
  switch (path) {
    case '/':
      if (deps.page) servePage(req, res);
      else text(res, 404, 'not found\n');
      return;
    case '/v1/events':
      if (ctx.live) ctx.live.attach(req, res);
      else text(res, 404, 'not found\n');
      return;
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

async function handleRoute(req: http.IncomingMessage, res: http.ServerResponse, routes: Route[], ctx: Context): Promise<void> {
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const route = routes.find((r) => r.method === method);
  if (!route) {
    res.writeHead(405, { allow: routes.map((r) => (r.method === 'GET' ? 'GET, HEAD' : r.method)).join(', ') }).end();
    return;
  }
  const bearer = checkBearer(req.headers, ctx.token);
  if (route.method === 'POST') {
    const refusal = mutationRefusal({ loopback: ctx.loopback, tokenSet: ctx.token !== undefined, bearer, routeVerifies: route.verifies === true });
    if (refusal) return refuse(req, res, 401, refusal);
  }
  const body = await readBody(req, ctx.limits.maxBodyBytes);
  if (body === undefined) return refuse(req, res, 413, `request body over ${ctx.limits.maxBodyBytes} bytes`);
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const answer = await route.handle({ headers: req.headers, query, body, authorized: bearer === 'ok' });
  res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body) + '\n');
}

/**
 * Answers with an error and closes the connection once the answer is out; what the client
 * still sends is drained, not kept (the request timeout bounds how long).
 */
function refuse(req: http.IncomingMessage, res: http.ServerResponse, status: number, error: string): void {
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', connection: 'close' };
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  res.writeHead(status, headers).end(JSON.stringify({ error }) + '\n');
  req.resume();
}

function text(res: http.ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
}
