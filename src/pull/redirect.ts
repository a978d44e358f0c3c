// A registry may redirect a blob (or a manifest) to storage elsewhere. fetch would follow
// any redirect, to any scheme and any number of times; here they are followed by hand:
// at most MAX_REDIRECTS, only to the scheme the pull started with (https never becomes
// http, which would show the request and the bytes to the network; nor http anything
// else, so what was configured is what is spoken), and the Authorization header only ever
// goes to the registry's own origin.

import { RegistryError } from './errors.js';
import { remoteText } from './response.js';

export const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export type FetchFn = (url: URL, init: RequestInit) => Promise<Response>;

/** Why a redirect from `from` to `to` is not followed; undefined when it is. */
export function redirectRefusal(from: URL, to: URL): string | undefined {
  if (to.protocol === from.protocol && (to.protocol === 'https:' || to.protocol === 'http:')) return undefined;
  return `a redirect from ${from.protocol} to ${remoteText(to.protocol, 20)} is refused`;
}

export interface FollowOptions {
  fetch: FetchFn;
  /** Default GET; a HEAD (a tag's digest) follows redirects the same way. */
  method?: 'GET' | 'HEAD';
  headers: Record<string, string>;
  signal: AbortSignal;
  /** Credentials go only here ("https://host:port"). */
  authOrigin: string;
  /** For messages: "blob sha256:... from host". */
  what: string;
}

/** GET `url`, following redirects under the rules above; the first answer that is not a redirect. */
export async function fetchFollowing(url: string, opts: FollowOptions): Promise<Response> {
  let current = new URL(url);
  for (let hops = 0; ; hops++) {
    const headers = { ...opts.headers };
    if (current.origin !== opts.authOrigin) delete headers.authorization;
    const res = await opts.fetch(current, { method: opts.method ?? 'GET', headers, redirect: 'manual', signal: opts.signal });
    if (!REDIRECTS.has(res.status)) return res;
    await res.body?.cancel().catch(() => undefined);
    const location = res.headers.get('location');
    if (!location) throw new RegistryError(`${opts.what}: ${res.status} redirect without a Location`);
    if (hops >= MAX_REDIRECTS) throw new RegistryError(`${opts.what}: more than ${MAX_REDIRECTS} redirects; refused`);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch (err) {
      throw new RegistryError(`${opts.what}: redirect to ${remoteText(location)}, which is not a URL`, { cause: err });
    }
    const refusal = redirectRefusal(current, next);
    if (refusal) throw new RegistryError(`${opts.what}: ${refusal} (to ${remoteText(next.origin)})`);
    current = next;
  }
}
