// What keeps the --listen server safe to expose: bounds on what a client can make it hold
// (body size, connections, time to send headers and the request), and who may call a
// mutating endpoint. Without --listen-token-file, loopback is open (only processes of this
// machine reach it, as with containerd's own socket) and any other address refuses
// mutations; with it, a mutating request needs that bearer token on every address. A
// route's own proof (the Git webhook's HMAC signature) is always as good as the token.
// The status page on a loopback listener also wants a loopback Host (against DNS rebinding).

import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { isIP } from 'node:net';

/** Request bodies larger than this are refused (413) before a route sees them. */
export const MAX_BODY_BYTES = 1 << 20;

export interface ServerLimits {
  /** Default MAX_BODY_BYTES. */
  maxBodyBytes: number;
  /** Open connections at once; more are closed as they arrive. Default 64. */
  maxConnections: number;
  /** Time for a client to send a request's headers (slowloris). Default 10 s. */
  headersTimeoutMs: number;
  /** Time for a client to send a whole request, body included. Default 30 s. */
  requestTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxBodyBytes: MAX_BODY_BYTES,
  maxConnections: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
};

/** Node's options for those limits (http and https servers take the same). */
export function serverOptions(limits: ServerLimits): http.ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
    // Node checks both timeouts only this often (30 s by default): a slow client is cut
    // off within a fraction of its allowance, not half a minute later.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

/** Whether a listen host only takes connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

/**
 * Whether a request's Host header may reach the status page. On a loopback listener it must
 * name loopback (127.x, [::1], localhost, any port): a web page elsewhere that rebinds its own
 * host name to 127.0.0.1 (DNS rebinding) gets its name in Host, and is refused, so it cannot
 * read the page, its event stream or the containers' log tails from this machine's browser.
 */
export function hostAllowed(host: string | undefined, loopback: boolean): boolean {
  if (!loopback) return true;
  if (host === undefined) return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::\d{1,5})?$/.exec(host.trim().toLowerCase());
  return m !== null && isLoopbackHost(m[1]);
}

export type BearerCheck = 'none' | 'ok' | 'wrong';

/** The request's `Authorization: Bearer` against the token, in constant time. */
export function checkBearer(headers: http.IncomingHttpHeaders, token: string | undefined): BearerCheck {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
  // Without a token configured, a bearer header proves nothing and refuses nothing.
  if (!m || token === undefined) return 'none';
  // Hashes are of equal length whatever was sent, as timingSafeEqual needs.
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]), digest(token)) ? 'ok' : 'wrong';
}

export interface MutationAsk {
  /** The listener takes connections from this machine only. */
  loopback: boolean;
  /** A token is configured (--listen-token-file). */
  tokenSet: boolean;
  bearer: BearerCheck;
  /** The route verifies a proof of its own (a webhook signature). */
  routeVerifies: boolean;
}

/** Why a mutating request is refused before its route sees it (401), or undefined. */
export function mutationRefusal(ask: MutationAsk): string | undefined {
  if (ask.bearer === 'wrong') return 'the bearer token is not the one of --listen-token-file';
  if (ask.bearer === 'ok' || ask.routeVerifies) return undefined;
  if (ask.tokenSet) return 'a bearer token is required (Authorization: Bearer <the --listen-token-file token>)';
  if (!ask.loopback) return 'this address needs --listen-token-file and its bearer token for changes';
  return undefined;
}

/** What a listener should warn about at start: none on loopback. */
export function exposureWarnings(l: { loopback: boolean; scheme: 'http' | 'https'; tokenSet: boolean; unverifiedPosts: string[] }): { msg: string; fields: Record<string, unknown> }[] {
  if (l.loopback) return [];
  const out: { msg: string; fields: Record<string, unknown> }[] = [];
  if (l.scheme === 'http') {
    out.push({ msg: 'listening over plain HTTP on an address other than loopback: requests, and any bearer token, cross the network in clear (--tls-cert/--tls-key)', fields: {} });
  }
  if (!l.tokenSet && l.unverifiedPosts.length > 0) {
    out.push({ msg: 'these endpoints refuse every request on this address: no --listen-token-file', fields: { paths: l.unverifiedPosts } });
  }
  return out;
}

/** A request body up to `max` bytes; undefined once it is over (the caller answers 413). */
export async function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > max) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}
