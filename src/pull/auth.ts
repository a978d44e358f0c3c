// Registry authentication as docker does it: a request without credentials, and on a 401
// the WWW-Authenticate challenge says how: Basic (username and password on each request)
// or Bearer (a token from the realm's token server, for a scope like
// "repository:library/redis:pull"). Answers are cached per host, tokens until they expire.
//
// The realm is the registry's to name, so it is untrusted: it must be https (plain http
// only on loopback or a host listed as insecure), and the registry's credentials go to it
// only when it is the registry's own host (or its known token server); a realm elsewhere
// gets that host's own credentials from the docker config, or none.

import type { CredentialStore, Credentials } from './credentials.js';
import { RegistryError, RegistryUnreachableError, UnauthorizedError } from './errors.js';
import { isInsecure, isLoopback, sameParty } from './hosts.js';
import type { FetchFn } from './redirect.js';
import { readBounded, remoteText } from './response.js';
import { quote } from '../spec/quote.js';

export interface Challenge {
  /** Lowercase: "basic" or "bearer" (others are reported, never answered). */
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header: one or more challenges with their auth-params. */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let rest = header;
  let current: Challenge | undefined;
  while (rest.trim() !== '') {
    rest = rest.replace(/^[\s,]+/, '');
    // "key=value" continues the current challenge; a bare token starts the next one.
    const param = /^([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/.exec(rest);
    if (param && current) {
      current.params[param[1].toLowerCase()] = param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : param[3];
      rest = rest.slice(param[0].length);
      continue;
    }
    const scheme = /^([A-Za-z0-9_.-]+)/.exec(rest);
    if (!scheme) break;
    current = { scheme: scheme[1].toLowerCase(), params: {} };
    out.push(current);
    rest = rest.slice(scheme[0].length);
  }
  return out;
}

export interface AuthorizerOptions {
  credentials: CredentialStore;
  /** Deadline of a token request. */
  timeoutMs: number;
  userAgent: string;
  /** Hosts that may be spoken to over plain HTTP (loopback always may). */
  insecure?: readonly string[];
  fetch?: FetchFn;
}

interface Token {
  header: string;
  expiresAt: number;
}

const DEFAULT_TOKEN_SECONDS = 60;
/** A token answer is a small JSON document; a bigger one is not read. */
const TOKEN_BODY_MAX = 1 << 20;
/** A token is renewed this long before it runs out, so no request carries a stale one. */
const TOKEN_MARGIN_MS = 10_000;

export class Authorizer {
  private readonly basic = new Map<string, string>();
  private readonly tokens = new Map<string, Token>();
  /** Hosts whose challenge was Bearer, with the challenge, for the next scope asked for. */
  private readonly bearerChallenges = new Map<string, Record<string, string>>();

  constructor(private readonly opts: AuthorizerOptions) {}

  /** What to send to `host` for `scope`; undefined when nothing is known yet. */
  authorization(host: string, scope: string): string | undefined {
    const token = this.tokens.get(`${host} ${scope}`);
    if (token && token.expiresAt > Date.now()) return token.header;
    return this.basic.get(host);
  }

  /** Whether a token for `scope` can be fetched before the request (the host uses Bearer). */
  async prepare(host: string, domain: string, scope: string, signal?: AbortSignal): Promise<void> {
    const params = this.bearerChallenges.get(host);
    if (params && this.authorization(host, scope) === undefined) await this.fetchToken(host, domain, scope, params, signal);
  }

  /**
   * Answers the challenge of a 401, so that authorization() has something to send. Throws
   * UnauthorizedError when it cannot (no credentials, refused ones, an unknown scheme).
   */
  async challenge(host: string, domain: string, scope: string, header: string | null, signal?: AbortSignal): Promise<void> {
    const challenges = parseChallenges(header ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer?.params.realm) {
      this.bearerChallenges.set(host, bearer.params);
      await this.fetchToken(host, domain, scope, bearer.params, signal);
      return;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      const creds = await this.credentials(domain);
      if (!creds?.username || creds.password === undefined) {
        throw new UnauthorizedError(`registry ${host} asks for a username and password; none for ${domain} in ${this.opts.credentials.source}`);
      }
      this.basic.set(host, basicHeader(creds));
      return;
    }
    throw new UnauthorizedError(`registry ${host} answered 401 with no challenge converge can answer (${header ? remoteText(header) : 'no WWW-Authenticate'})`);
  }

  /** Forgets what was sent to `host` (it was refused). */
  reset(host: string, scope: string): void {
    this.tokens.delete(`${host} ${scope}`);
  }

  private async credentials(domain: string): Promise<Credentials | undefined> {
    try {
      return await this.opts.credentials.get(domain);
    } catch (err) {
      throw new UnauthorizedError(`reading credentials for ${domain}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  private async fetchToken(host: string, domain: string, scope: string, params: Record<string, string>, signal?: AbortSignal): Promise<void> {
    const own = await this.credentials(domain);
    if (own?.registryToken) {
      this.tokens.set(`${host} ${scope}`, { header: `Bearer ${own.registryToken}`, expiresAt: Number.POSITIVE_INFINITY });
      return;
    }
    const url = this.realmUrl(host, params.realm);
    // The registry's credentials only to its own party; elsewhere, that host's own, if any.
    const lookup = sameParty(host, domain, url.hostname) ? domain : url.host;
    const creds = lookup === domain ? own : await this.credentials(lookup);
    const scopes = [...new Set([scope, ...(params.scope ? params.scope.split(' ') : [])])];
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent };
    let body: URLSearchParams | undefined;
    if (creds?.identityToken) {
      // An OAuth2 refresh token is exchanged by POST (docker's "identity token").
      body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'converge' });
      if (params.service) body.set('service', params.service);
      body.set('scope', scopes.join(' '));
    } else {
      if (params.service) url.searchParams.set('service', params.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (creds?.username && creds.password !== undefined) headers.authorization = basicHeader(creds);
    }
    const text = await this.askTokenServer(host, url, { method: body ? 'POST' : 'GET', headers, body, redirect: 'error' }, signal, () =>
      creds?.username ? `user '${creds.username}' from ${this.opts.credentials.source}` : `no credentials (none for ${lookup} in ${this.opts.credentials.source})`,
    );
    let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      json = JSON.parse(text) as typeof json;
    } catch (err) {
      throw new RegistryError(`registry ${host}: token server ${url.host} answered with no JSON`, { cause: err });
    }
    const token = typeof json.token === 'string' && json.token ? json.token : json.access_token;
    if (typeof token !== 'string' || !token) throw new RegistryError(`registry ${host}: token server ${url.host} sent no token`);
    const seconds = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : DEFAULT_TOKEN_SECONDS;
    this.tokens.set(`${host} ${scope}`, { header: `Bearer ${token}`, expiresAt: Date.now() + Math.max(seconds * 1000 - TOKEN_MARGIN_MS, 1000) });
  }

  /** The realm as a URL converge will ask: https, or plain http only where plain http is allowed. */
  private realmUrl(host: string, realm: string | undefined): URL {
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch (err) {
      throw new RegistryError(`registry ${host}: challenge names realm ${quote(realm ?? '')}, which is not a URL`, { cause: err });
    }
    const plainOk = url.protocol === 'http:' && (isLoopback(url.hostname) || isInsecure(url.host, this.opts.insecure));
    if (url.protocol !== 'https:' && !plainOk) {
      throw new UnauthorizedError(
        `registry ${host}: token realm ${remoteText(url.origin)} is not https; refused (plain http only on loopback or an --insecure-registry host)`,
      );
    }
    return url;
  }

  /** One token request; the body of a 2xx answer (bounded), typed errors otherwise. */
  private async askTokenServer(host: string, url: URL, init: RequestInit, signal: AbortSignal | undefined, who: () => string): Promise<string> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const fetchFn = this.opts.fetch ?? ((u: URL, i: RequestInit) => fetch(u, i));
    let res: Response;
    let data: Buffer;
    let over: boolean;
    try {
      res = await fetchFn(url, { ...init, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      ({ data, over } = await readBounded(res, TOKEN_BODY_MAX));
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new RegistryUnreachableError(`token server ${url.host} for ${host} unreachable: ${causeText(err)}`, { cause: err });
    }
    const text = data.toString('utf8');
    if (res.status === 401 || res.status === 403) {
      throw new UnauthorizedError(`registry ${host}: token server refused ${who()}: ${res.status} ${remoteText(text)}`);
    }
    if (!res.ok) throw new RegistryError(`registry ${host}: token server ${url.host} answered ${res.status}`);
    if (over) throw new RegistryError(`registry ${host}: token server ${url.host} answered with over ${TOKEN_BODY_MAX} bytes`);
    return text;
  }
}

function basicHeader(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}

/** The useful part of a fetch failure: undici hides the socket error in `cause`. */
export function causeText(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } })?.cause;
  if (cause && typeof cause.message === 'string' && cause.message) return cause.message;
  if (cause && typeof cause.code === 'string') return cause.code;
  return err instanceof Error ? err.message : String(err);
}
