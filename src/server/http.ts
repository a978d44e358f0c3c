// The --listen server: /healthz (alive), /readyz (first full reconcile done), /metrics
// (Prometheus) and /v1/status (JSON rows, as `converge status` prints them).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { StatusRow } from '../reconcile/status.js';
import type { Metrics } from './metrics.js';

export interface ServerDeps {
  ready(): boolean;
  status(): StatusRow[];
  metrics: Metrics;
  log: Logger;
}

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
      const rows = deps.status();
      deps.metrics.containers.reset();
      for (const row of rows) deps.metrics.containers.inc({ phase: row.phase });
      const body = await deps.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': deps.metrics.registry.contentType }).end(body);
      return;
    }
    default:
      text(res, 404, 'not found\n');
  }
}

function text(res: http.ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
}
