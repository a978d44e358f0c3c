// The Git source's HTTP endpoints on the --listen server: POST /v1/git/sync fetches now, and
// doubles as the push-webhook URL for GitHub and Gitea. With a secret, it acts only on
// requests signed the way those send them (HMAC-SHA256 of the raw body, hex, in
// X-Hub-Signature-256: sha256=<hex>, or X-Gitea-Signature / X-Gogs-Signature: <hex>):
// unsigned is 401, wrongly signed 403; the --listen-token-file bearer token (checked by the
// server) is as good as a signature. GET /v1/sources shows every source's sync state.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Route, RouteRequest, RouteResponse } from './http.js';
import type { Source } from '../desired.js';
import { describeSource } from './view.js';
import type { GitSource } from '../sources/git.js';

export const SYNC_PATH = '/v1/git/sync';
export const SOURCES_PATH = '/v1/sources';

export type SignatureCheck = { ok: true; header: string } | { ok: false; reason: 'unsigned' | 'mismatch' | 'malformed'; header?: string };

/** The hex HMAC-SHA256 of `body` under `secret`, as webhook senders compute it. */
export function signBody(body: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Checks a webhook's signature over the raw body, in constant time. */
export function verifySignature(headers: IncomingHttpHeaders, body: Buffer, secret: string): SignatureCheck {
  const expected = createHmac('sha256', secret).update(body).digest();
  const candidates: [string, RegExp][] = [
    ['x-hub-signature-256', /^sha256=([0-9a-f]{64})$/i],
    ['x-gitea-signature', /^([0-9a-f]{64})$/i],
    ['x-gogs-signature', /^([0-9a-f]{64})$/i],
  ];
  for (const [name, pattern] of candidates) {
    const value = header(headers, name);
    if (value === undefined) continue;
    const m = pattern.exec(value.trim());
    if (!m) return { ok: false, reason: 'malformed', header: name };
    // Both sides are 32 bytes (the pattern fixes the length), as timingSafeEqual needs.
    return timingSafeEqual(Buffer.from(m[1], 'hex'), expected) ? { ok: true, header: name } : { ok: false, reason: 'mismatch', header: name };
  }
  return { ok: false, reason: 'unsigned' };
}

/** The ref a push payload names ("refs/heads/main"); JSON or GitHub's form-encoded `payload=`. */
export function pushedRefOf(body: Buffer): string | undefined {
  let text = body.toString('utf8').trim();
  if (text.startsWith('payload=')) text = new URLSearchParams(text).get('payload') ?? '';
  if (!text.startsWith('{')) return undefined;
  try {
    const ref = (JSON.parse(text) as { ref?: unknown }).ref;
    return typeof ref === 'string' ? ref : undefined;
  } catch {
    return undefined;
  }
}

export interface GitRoutesOptions {
  /** With a secret, only signed requests trigger a fetch. */
  secret?: string;
  log: Logger;
}

export function gitSyncRoute(source: GitSource, opts: GitRoutesOptions): Route {
  const log = opts.log.child({ source: source.name });
  async function handle(req: RouteRequest): Promise<RouteResponse> {
    // The server has checked a bearer token when one came; a signature is the other proof.
    if (opts.secret !== undefined && !req.authorized) {
      const check = verifySignature(req.headers, req.body, opts.secret);
      if (!check.ok) {
        log.warn({ reason: check.reason, header: check.header ?? null }, 'git sync request refused: bad webhook signature');
        return check.reason === 'unsigned'
          ? { status: 401, body: { error: 'unsigned: X-Hub-Signature-256 or X-Gitea-Signature (HMAC-SHA256 of the body) is required' } }
          : { status: 403, body: { error: `signature ${check.reason === 'malformed' ? 'malformed' : 'does not match'}` } };
      }
    }
    const event = header(req.headers, 'x-github-event') ?? header(req.headers, 'x-gitea-event') ?? header(req.headers, 'x-gogs-event');
    if (event === 'ping') return { status: 200, body: { result: 'pong' } };
    if (event !== undefined && event !== 'push') return { status: 200, body: { result: 'ignored', reason: `event '${event}' is not a push` } };
    const pushed = pushedRefOf(req.body);
    if (pushed !== undefined && !source.follows(pushed)) {
      return { status: 200, body: { result: 'ignored', reason: `${pushed} is not the followed ref ${source.ref}` } };
    }
    log.info({ event: event ?? null, ref: pushed ?? null }, 'git sync requested');
    const done = source.sync();
    const wait = req.query.get('wait');
    if (wait !== '1' && wait !== 'true') return { status: 202, body: { result: 'triggered' } };
    return { status: 200, body: await done };
  }
  return { method: 'POST', path: SYNC_PATH, verifies: opts.secret !== undefined, handle };
}

/** GET /v1/sources: every source as describeSource says it. */
export function sourcesRoute(sources: Source[]): Route {
  return { method: 'GET', path: SOURCES_PATH, handle: () => ({ status: 200, body: sources.map(describeSource) }) };
}
