// dependsOn across specs: the cycles among a set of containers (Tarjan's strongly connected
// components), each named with every member and one way round it. Pure: `converge validate`
// runs it over the files it checks, the desired store over what every source declares (so
// `run` and `plan` report it), and the planner starts no member of a cycle.

import type { DesiredContainer, Key, Problem } from './types.js';

export interface DependencyCycle {
  /** Every container of the cycle, sorted. */
  members: Key[];
  /** One way round it, from the first member back to it: [a, b, c, a]. */
  path: Key[];
}

/** The cycles among `specs`; dependencies outside the set are not followed. */
export function dependencyCycles(specs: Iterable<DesiredContainer>): DependencyCycle[] {
  const edges = new Map<Key, Key[]>();
  for (const d of specs) edges.set(d.key, d.resolved.dependsOn.map((x) => x.key));
  for (const [key, to] of edges) edges.set(key, to.filter((k) => edges.has(k)));
  const cycles: DependencyCycle[] = [];
  for (const scc of components(edges)) {
    const single = scc.length === 1 && !(edges.get(scc[0]) ?? []).includes(scc[0]);
    if (single) continue;
    const members = [...scc].sort();
    cycles.push({ members, path: wayRound(members[0], new Set(members), edges) });
  }
  return cycles.sort((a, b) => (a.members[0] < b.members[0] ? -1 : 1));
}

/** "a -> b -> a" (names only: a cycle never leaves its namespace). */
export function formatCycle(cycle: DependencyCycle): string {
  return cycle.path.map(nameOf).join(' -> ');
}

/** A problem on every member of every cycle, at its dependsOn. */
export function cycleProblems(specs: Iterable<DesiredContainer>): Problem[] {
  const byKey = new Map<Key, DesiredContainer>();
  for (const d of specs) byKey.set(d.key, d);
  const problems: Problem[] = [];
  for (const cycle of dependencyCycles(byKey.values())) {
    const message = `dependency cycle ${formatCycle(cycle)} (members: ${cycle.members.map(nameOf).join(', ')}); none of them is started until it is broken`;
    for (const key of cycle.members) {
      const d = byKey.get(key)!;
      problems.push({ file: d.origin.replace(/^dir:/, ''), path: 'spec.dependsOn', key, message });
    }
  }
  return problems;
}

/** Key -> the cycle it is part of, formatted; keys in no cycle are absent. */
export function cyclesByKey(specs: Iterable<DesiredContainer>): Map<Key, string> {
  const out = new Map<Key, string>();
  for (const cycle of dependencyCycles(specs)) for (const key of cycle.members) out.set(key, formatCycle(cycle));
  return out;
}

function nameOf(key: Key): string {
  return key.slice(key.indexOf('/') + 1);
}

/** Tarjan's strongly connected components. */
function components(edges: Map<Key, Key[]>): Key[][] {
  let next = 0;
  const index = new Map<Key, number>();
  const low = new Map<Key, number>();
  const stack: Key[] = [];
  const onStack = new Set<Key>();
  const out: Key[][] = [];
  const visit = (v: Key): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: Key[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      scc.push(w);
      if (w === v) break;
    }
    out.push(scc);
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}

/** The shortest way from `start` back to itself inside `within` (breadth first). */
function wayRound(start: Key, within: Set<Key>, edges: Map<Key, Key[]>): Key[] {
  const from = new Map<Key, Key>();
  const queue: Key[] = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of [...(edges.get(v) ?? [])].sort()) {
      if (!within.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at: Key | undefined = v; at !== undefined && at !== start; at = from.get(at)) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}
