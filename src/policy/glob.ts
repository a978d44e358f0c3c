// Globs over origins, for policy rules and --allow-empty: "git:https://git.example.com/**",
// "dir:/etc/converge/untrusted/*", "kube:team-a". * matches within one path segment (no
// "/"), ** across segments, ? one character but "/"; everything else is itself. A glob is
// matched against every name a spec goes by (namesOf), so a rule can name a whole source
// or one file of it.

const cache = new Map<string, RegExp>();

export function globRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (re) return re;
  let body = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      body += '.*';
      i++;
    } else if (c === '*') body += '[^/]*';
    else if (c === '?') body += '[^/]';
    else body += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  re = new RegExp(`^${body}$`, 's');
  if (cache.size > 1000) cache.clear();
  cache.set(glob, re);
  return re;
}

export function matchGlob(glob: string, text: string): boolean {
  return globRegExp(glob).test(text);
}

/**
 * The names a spec read by `source` from `origin` goes by: its origin ("dir:/srv/specs/web.yaml",
 * "git:<url>:<file>", "kube:<namespace>/<name>"), its source ("dir:/srv/specs", "git:<url>"),
 * and for Kubernetes its namespace ("kube:<namespace>").
 */
export function namesOf(origin: string, source: string): string[] {
  const names = [origin, source];
  if (origin.startsWith('kube:')) {
    const rest = origin.slice(5);
    names.push(`kube:${rest.slice(0, rest.indexOf('/') < 0 ? rest.length : rest.indexOf('/'))}`);
  }
  return names;
}

/** Whether any of `globs` matches any of the names a spec of `origin` from `source` goes by. */
export function matchesAny(globs: readonly string[], names: readonly string[]): boolean {
  return globs.some((g) => names.some((n) => matchGlob(g, n)));
}
