// What the status page shows, as one JSON document: every container's row (desired and
// actual) with its last action, every source with its errors and the problems found in its
// files, and the recent actions. GET /v1/events pushes it; the page only renders it.

import type { Problem } from '../spec/types.js';
import { formatProblem } from '../spec/load.js';
import { sourceOwns, type DesiredStore, type Source } from '../desired.js';
import type { StatusRow } from '../reconcile/status.js';
import type { Activity, ActivityEntry } from './activity.js';
import { isGitSource, type GitSourceStatus } from '../sources/git.js';

/** What /v1/sources and the status page say of a source: a Git source's revision, last sync and error; another's name and kind. */
export function describeSource(s: Source): GitSourceStatus | { name: string; kind: string } {
  return isGitSource(s) ? s.status() : { name: s.name, kind: s.name.includes(':') ? s.name.slice(0, s.name.indexOf(':')) : s.name };
}

export interface PageView {
  /** Every source has been read and the first full reconcile is done. */
  ready: boolean;
  containers: (StatusRow & { lastAction: ActivityEntry | null })[];
  sources: SourceView[];
  /** Problems no source claims (none, unless a source names its files unexpectedly). */
  problems: string[];
  /** Newest first. */
  actions: ActivityEntry[];
}

export interface SourceView {
  name: string;
  kind: string;
  /** Facts worth a glance ("revision 1a2b3c4d", "last sync ..."), in order. */
  facts: string[];
  /** The source's own error (a fetch that fails, a rejected revision), or null. */
  error: string | null;
  /** Problems in its files: invalid documents, denials, conflicts, cycles. */
  problems: string[];
}

export interface ViewInput {
  ready(): boolean;
  status(): StatusRow[];
  store: Pick<DesiredStore, 'problems'>;
  sources: Source[];
  activity: Activity;
}

export function buildView(input: ViewInput): PageView {
  const rows = input.status();
  const described = input.sources.map(describeSource);
  const views: SourceView[] = described.map((d) => sourceView(d));
  const loose: string[] = [];
  for (const p of input.store.problems()) {
    const owner = ownerOf(p, views.map((v) => v.name));
    const text = formatProblem(p);
    if (owner === undefined) loose.push(text);
    else views[owner].problems.push(text);
  }
  return {
    ready: input.ready(),
    containers: rows.map((r) => ({ ...r, lastAction: input.activity.lastOf(`${r.namespace}/${r.name}`) })),
    sources: views,
    problems: loose,
    actions: input.activity.recent(),
  };
}

/** The index of the source whose file the problem is in: a problem names a file, an origin or the source itself. */
export function ownerOf(p: Problem, sourceNames: string[]): number | undefined {
  const candidates = [p.file, `dir:${p.file}`, `git:${p.file}`];
  const i = sourceNames.findIndex((name) => candidates.some((c) => c === name || sourceOwns(name, c)));
  return i < 0 ? undefined : i;
}

function sourceView(d: ReturnType<typeof describeSource>): SourceView {
  if (!('url' in d)) return { name: d.name, kind: d.kind, facts: [], error: null, problems: [] };
  const facts = [
    `ref ${d.ref}`,
    `path ${d.path}`,
    d.revision ? `revision ${d.revision.slice(0, 12)}` : 'no revision applied yet',
    d.lastSyncAt ? `last sync ${d.lastSyncAt}` : 'never synced',
  ];
  if (d.consecutiveFailures > 0) facts.push(`${d.consecutiveFailures} failed fetch(es) in a row`);
  const problems = d.rejected ? d.rejected.problems.map((p) => `revision ${d.rejected!.revision.slice(0, 12)}: ${p}`) : [];
  return { name: d.name, kind: d.kind, facts, error: d.error ? `${d.error.code}: ${d.error.message}` : null, problems };
}
