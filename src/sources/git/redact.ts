// Keeps credentials out of everything converge shows: a repository URL with user:password
// (or a token as the user name, or in the query) is shown with those parts replaced by ***,
// and any text git prints (stderr echoes URLs) is scrubbed the same way before it is logged.

const SCHEME_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^\s/@'"]+)@/gi;

/**
 * The URL as it may be shown. Userinfo goes entirely (a token is often the user name), except
 * a bare SSH user name ("ssh://git@host/x", "git@host:x"), which is no secret. A query string
 * (some hosts take tokens there) is hidden too.
 */
export function redactUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*@)?([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(url);
  if (!m) return url; // a local path or scp-like "user@host:path": no password can be in it
  const [, scheme, userinfo, rest, query, fragment] = m;
  let who = '';
  if (userinfo) {
    const user = userinfo.slice(0, -1);
    const sshUser = /^(ssh|git\+ssh|ssh\+git)$/i.test(scheme) && !user.includes(':');
    who = sshUser ? `${user}@` : '***@';
  }
  return `${scheme}://${who}${rest}${query ? '?***' : ''}${fragment ?? ''}`;
}

/** The parts of a URL that must never be shown, longest first. */
function secretsOf(url: string): string[] {
  const out = new Set<string>();
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(url);
  if (m) {
    const [user, ...pw] = m[1].split(':');
    const password = pw.join(':');
    for (const s of [password, user]) {
      if (s.length < 4) continue; // too short to replace blindly; the URL patterns still catch it
      out.add(s);
      try {
        out.add(decodeURIComponent(s));
      } catch {
        // not valid percent-encoding: the raw form is enough
      }
    }
  }
  const q = /\?([^#]*)/.exec(url);
  if (q && q[1].length >= 4) out.add(q[1]);
  return [...out].sort((a, b) => b.length - a.length);
}

/** Scrubs text (git's stderr, an error message) of the URL's credentials and of any URL userinfo. */
export function redactText(text: string, url: string): string {
  let out = text.split(url).join(redactUrl(url));
  for (const secret of secretsOf(url)) out = out.split(secret).join('***');
  return out.replace(SCHEME_USERINFO, (all, scheme: string, userinfo: string) =>
    /^(ssh|git\+ssh|ssh\+git):\/\/$/i.test(scheme) && !userinfo.includes(':') ? all : `${scheme}***@`,
  );
}

/** The URL with no credentials at all, for naming the local clone (a new password keeps it). */
export function credentiallessUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1').replace(/\?[^#]*/, '');
}
