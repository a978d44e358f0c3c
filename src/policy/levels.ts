// What each level lets a spec ask of the host (DESIGN.md, Trust; named as Kubernetes' Pod
// Security Standards name them), checked field by field:
//
// - privileged: anything the schema can express.
// - baseline: no network: host, no bind mounts but under allowed prefixes (read-only
//   unless the prefix allows writing), no privileged, no capabilities added beyond
//   containerd's default set. (The schema has no devices field: none can be asked for.)
// - restricted: baseline, plus runAsNonRoot: true, capabilities drop ALL and add at most
//   NET_BIND_SERVICE. No privilege escalation holds at every level but privileged
//   (noNewPrivileges is on for every container that is not privileged: true).
//
// A rule's `allow` adds exceptions: hostNetwork, bind mount prefixes, capabilities. Bind
// sources are resolved (paths.ts) before they are compared with a prefix, and the
// resolved paths are what gets mounted.

import { DEFAULT_CAPABILITIES, addedCapabilities, normalizeCapability } from '../spec/capabilities.js';
import { quote } from '../spec/quote.js';
import type { ContainerSpecBody } from '../spec/types.js';
import { isUnder, resolveHostPath, type ResolvedPath } from './paths.js';
import type { Allow, Decision, Denial, Level } from './types.js';

export interface Verdict {
  denials: Denial[];
  /** Per spec.mounts index: the resolved source of a checked bind mount. */
  bindSources: Array<string | undefined>;
}

export type Resolve = (path: string) => ResolvedPath;

/** Capabilities a level lets a spec add without an allow: entry. */
const ADDABLE: Record<Exclude<Level, 'privileged'>, readonly string[]> = {
  baseline: DEFAULT_CAPABILITIES,
  restricted: ['CAP_NET_BIND_SERVICE'],
};

export function evaluate(spec: ContainerSpecBody, decision: Pick<Decision, 'level' | 'allow'>, resolve: Resolve = resolveHostPath): Verdict {
  const { level, allow } = decision;
  if (level === 'privileged') return { denials: [], bindSources: [] };
  const denials: Denial[] = [];
  const at = `at level ${level}`;
  const ctx = spec.securityContext;
  if (ctx?.privileged === true) {
    denials.push({ path: 'spec.securityContext.privileged', message: `a privileged container is not allowed ${at}` });
  }
  if (spec.network === 'host' && allow.hostNetwork !== true) {
    denials.push({ path: 'spec.network', message: `network: host is not allowed ${at} (a rule may allow hostNetwork)` });
  }
  const bindSources = checkBinds(spec, level, allow, resolve, denials);
  checkCapabilities(spec, level, allow, denials);
  if (level === 'restricted') {
    if (ctx?.runAsNonRoot !== true) {
      denials.push({ path: 'spec.securityContext.runAsNonRoot', message: `must be true ${at}` });
    }
    const drop = (ctx?.capabilities?.drop ?? []).map(normalizeCapability);
    if (!drop.includes('ALL')) {
      denials.push({ path: 'spec.securityContext.capabilities.drop', message: `must include ALL ${at}` });
    }
  }
  return { denials, bindSources };
}

function checkBinds(spec: ContainerSpecBody, level: Level, allow: Allow, resolve: Resolve, denials: Denial[]): Array<string | undefined> {
  const sources: Array<string | undefined> = [];
  const prefixes = (allow.bindMounts ?? []).map((b) => ({ ...b, resolved: resolve(b.pathPrefix).path }));
  (spec.mounts ?? []).forEach((mount, i) => {
    sources[i] = undefined; // no holes: tmpfs mounts keep their index
    if (mount.type !== 'bind') return;
    const path = `spec.mounts[${i}]`;
    const real = resolve(mount.source);
    sources[i] = real.path;
    const shown = real.path === mount.source ? quote(mount.source) : `${quote(mount.source)} (which resolves to ${quote(real.path)})`;
    if (real.error) {
      denials.push({ path: `${path}.source`, message: `cannot resolve ${quote(mount.source)}: ${real.error}` });
      return;
    }
    if (prefixes.length === 0) {
      denials.push({ path: `${path}.source`, message: `bind mounts are not allowed at level ${level} (a rule may allow bindMounts under a pathPrefix); asked for ${shown}` });
      return;
    }
    const under = prefixes.filter((p) => isUnder(real.path, p.resolved));
    if (under.length === 0) {
      const allowed = prefixes.map((p) => quote(p.pathPrefix)).join(', ');
      denials.push({ path: `${path}.source`, message: `${shown} is outside every allowed bind mount prefix (${allowed})` });
    } else if (mount.readOnly !== true && !under.some((p) => p.readWrite === true)) {
      denials.push({ path: `${path}.readOnly`, message: `must be true: ${quote(under[0].pathPrefix)} is allowed read-only` });
    }
  });
  return sources;
}

function checkCapabilities(spec: ContainerSpecBody, level: Exclude<Level, 'privileged'>, allow: Allow, denials: Denial[]): void {
  const extra = (allow.capabilities ?? []).map(normalizeCapability);
  const addable = new Set([...ADDABLE[level], ...extra]);
  const added = addedCapabilities(spec.securityContext);
  const written = spec.securityContext?.capabilities?.add ?? [];
  for (const cap of added) {
    if (addable.has(cap) || extra.includes('ALL')) continue;
    const index = written.findIndex((w) => normalizeCapability(w) === cap);
    const what = level === 'baseline' ? 'beyond containerd\'s default set' : 'other than NET_BIND_SERVICE';
    denials.push({
      path: `spec.securityContext.capabilities.add[${index}]`,
      message: `adding ${cap === 'ALL' ? 'ALL capabilities' : cap.slice(4)} (${what}) is not allowed at level ${level} (a rule may allow capabilities)`,
    });
  }
}
