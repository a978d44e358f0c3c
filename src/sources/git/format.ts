// How `converge status` prints the Git source's sync state under the container table:
// revision applied, last successful fetch, and the current error in full.

import type { GitSourceStatus } from '../git.js';

function ago(now: number, iso: string | null): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
}

/** Lines for the Git sources among `sources` (the /v1/sources body); "" when there are none. */
export function formatGitSources(sources: unknown, now: number): string {
  if (!Array.isArray(sources)) return '';
  const git = (sources as Partial<GitSourceStatus>[]).filter((s) => s.kind === 'git');
  return git
    .map((s) => {
      const head = `\nSOURCE ${s.name} ref ${s.ref} path ${s.path}\n`;
      const rev = `  revision ${s.revision ?? 'none'}${s.ready ? '' : ' (not read yet in this run: nothing is removed)'}, last sync ${ago(now, s.lastSyncAt ?? null)}\n`;
      const err = s.error ? `  error ${s.error.code}: ${s.error.message}\n` : '';
      return head + rev + err;
    })
    .join('');
}
