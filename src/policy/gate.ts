// The policy as the desired store's Gate: which rule (or source default) decides a spec,
// the level's verdict on it, and the problem a denial is, naming the file (or commit, or
// resource), the field and the rule. An admitted container carries its bind sources as
// resolved, so what was checked is what gets mounted. --allow-empty globs are the other
// half of the gate: which sources may prune by being empty.

import type { Admission, Gate } from '../desired.js';
import type { DesiredContainer, Problem } from '../spec/types.js';
import { matchesAny, namesOf } from './glob.js';
import { evaluate, type Resolve } from './levels.js';
import { resolveHostPath } from './paths.js';
import { SOURCE_DEFAULTS, type Decision, type Policy } from './types.js';

/** "dir" for "dir:/srv/specs", "git" for "git:https://...", "kube" for "kube". */
const kindOf = (source: string): string => source.split(':', 1)[0];

/** The rule that decides for a spec read by `source` from `origin`: the first that matches, else the default. */
export function decide(policy: Policy, origin: string, source: string): Decision {
  const names = namesOf(origin, source);
  const index = policy.rules.findIndex((r) => matchesAny(r.sources, names));
  if (index >= 0) {
    const rule = policy.rules[index];
    const where = policy.file ? ` of ${policy.file}` : '';
    return { level: rule.level, allow: rule.allow ?? {}, rule: `rule ${index + 1}${where} (sources ${rule.sources.join(', ')}; level ${rule.level})` };
  }
  const kind = kindOf(source);
  // A kind of source this version does not know is held to the strictest default there is.
  const level = SOURCE_DEFAULTS[kind] ?? 'baseline';
  return { level, allow: {}, rule: `the default for ${kind}: sources (level ${level})` };
}

/** The name of the file, commit or resource a problem of `origin` is about, as the sources name them. */
function problemFile(origin: string): string {
  return origin.startsWith('dir:') || origin.startsWith('git:') ? origin.slice(4) : origin;
}

export function admit(policy: Policy, container: DesiredContainer, source: string, resolve: Resolve = resolveHostPath): Admission {
  const decision = decide(policy, container.origin, source);
  const verdict = evaluate(container.spec.spec, decision, resolve);
  if (verdict.denials.length === 0) {
    return { ok: true, container: verdict.bindSources.length > 0 ? { ...container, bindSources: verdict.bindSources } : container };
  }
  const commit = container.revision ? ` (commit ${container.revision.slice(0, 12)})` : '';
  const problems: Problem[] = verdict.denials.map((d) => ({
    file: problemFile(container.origin),
    path: d.path,
    message: `${d.message}; denied by ${decision.rule}${commit}`,
  }));
  return { ok: false, problems };
}

export interface GateOptions {
  policy: Policy;
  /** --allow-empty: globs over source names that may prune by being empty. */
  allowEmpty?: readonly string[];
  resolve?: Resolve;
}

/** The sources' names a --allow-empty glob is matched against ("kube" also as "kube:"). */
const sourceNames = (source: string): string[] => (source.includes(':') ? [source] : [source, `${source}:`]);

export function createGate(opts: GateOptions): Gate {
  const allowEmpty = opts.allowEmpty ?? [];
  return {
    admit: (container, source) => admit(opts.policy, container, source, opts.resolve),
    allowEmpty: (source) => matchesAny(allowEmpty, sourceNames(source)),
  };
}

/** No policy file: the per-source defaults alone. */
export const DEFAULT_POLICY: Policy = { rules: [] };
