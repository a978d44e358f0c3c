// The desired state: merges the latest snapshot of every source into one map of key ->
// container, and tells listeners which keys changed so that a controller enqueues only those.
//
// Conflicts (two files or sources declaring the same namespace/name) go to the FIRST claimant:
// a claim lasts while its declarer still declares the key, a newcomer never takes it over,
// and when the holder lets go the next claimant in order of arrival gets it. So nothing
// flaps, and within one snapshot the order of the snapshot (sorted file names) decides.
// The losers are reported as problems. So are dependsOn cycles among the holders: every
// member is named, on every member's row, and the planner starts none of them.

import { cycleProblems, cyclesByKey } from './spec/deps.js';
import type { DesiredContainer, Key, Problem, Snapshot } from './spec/types.js';

/**
 * A source of desired state: it reads specs from somewhere (a directory, the Kubernetes API,
 * a Git repository) and reports the FULL set each time, level-based, never deltas. The
 * store is its only consumer; a source reads and never acts.
 */
export interface Source {
  /** Unique among the sources, e.g. "dir:/etc/converge/specs"; the snapshots carry it. */
  name: string;
  /**
   * Starts reading. Resolves after the first full read has been passed to `onSnapshot`
   * (complete or not); later snapshots follow whenever the input changes.
   */
  start(onSnapshot: (s: Snapshot) => void): Promise<void>;
  /** Stops watching; no snapshot is emitted after it resolves. */
  stop(): Promise<void>;
}

export interface DesiredStore {
  /** Replaces everything the snapshot's source said before with what it says now. */
  update(snapshot: Snapshot): void;
  /** Key -> the container that holds it. */
  desired(): ReadonlyMap<Key, DesiredContainer>;
  /** The problems of every source's latest snapshot, plus one per losing claim and per member of a dependency cycle. */
  problems(): Problem[];
  /** The dependsOn cycle the key's container is part of ("a -> b -> a"), if any. */
  cycle(key: Key): string | undefined;
  /** Every configured source has emitted at least one complete snapshot. */
  ready(): boolean;
  /**
   * Called after an update with the keys whose holder, hash or origin changed (added and
   * removed keys included); also called, possibly with no keys, when ready() turns true.
   * Returns a function that removes the listener.
   */
  onChange(listener: (keys: Key[]) => void): () => void;
  /**
   * Origins that held their keys before converge (re)started, from the running containers'
   * source labels. Until every source has been read, such a claim goes to the front of the
   * line however late its source reports, so that a restart of converge hands a contested
   * name back to the same declarer instead of to whichever source is read first.
   */
  prefer(origins: ReadonlyMap<Key, string>): void;
}

interface Claim {
  source: string;
  container: DesiredContainer;
}

interface SourceState {
  /** "key\0origin" -> claim, for the claims of the latest snapshot. */
  claims: Map<string, Claim>;
  problems: Problem[];
  seenComplete: boolean;
}

/** The file or resource an origin names: "dir:/etc/x.yaml" -> "/etc/x.yaml". */
function originFile(origin: string): string {
  return origin.startsWith('dir:') ? origin.slice(4) : origin;
}

export function createDesiredStore(sourceNames: string[]): DesiredStore {
  const sources = new Map<string, SourceState>();
  for (const name of sourceNames) sources.set(name, { claims: new Map(), problems: [], seenComplete: false });
  /** Key -> claims in order of arrival; the first one holds the key. */
  const claimsByKey = new Map<Key, Claim[]>();
  const holders = new Map<Key, DesiredContainer>();
  const listeners = new Set<(keys: Key[]) => void>();
  let preferred: ReadonlyMap<Key, string> = new Map();
  /** Cycles among the holders, found again whenever a holder changes. */
  let cycles = new Map<Key, string>();

  const isReady = () => sourceNames.every((n) => sources.get(n)?.seenComplete === true);

  function update(snapshot: Snapshot): void {
    const wasReady = isReady();
    let state = sources.get(snapshot.source);
    if (!state) sources.set(snapshot.source, (state = { claims: new Map(), problems: [], seenComplete: false }));

    const next = new Map<string, Claim>();
    for (const container of snapshot.specs) {
      const id = `${container.key}\0${container.origin}`;
      if (!next.has(id)) next.set(id, { source: snapshot.source, container });
    }
    const touched = new Set<Key>();
    for (const [id, claim] of state.claims) {
      if (next.has(id)) continue;
      const key = claim.container.key;
      const list = claimsByKey.get(key)!.filter((c) => c !== claim);
      if (list.length > 0) claimsByKey.set(key, list);
      else claimsByKey.delete(key);
      touched.add(key);
    }
    for (const [id, fresh] of next) {
      const old = state.claims.get(id);
      if (old) {
        old.container = fresh.container; // same declarer: keeps its place in line
        next.set(id, old);
      } else {
        const key = fresh.container.key;
        const list = claimsByKey.get(key);
        const first = !wasReady && preferred.get(key) === fresh.container.origin;
        if (!list) claimsByKey.set(key, [fresh]);
        else if (first) list.unshift(fresh);
        else list.push(fresh);
      }
      touched.add(fresh.container.key);
    }
    state.claims = next;
    state.problems = snapshot.problems;
    if (snapshot.complete) state.seenComplete = true;

    const changed: Key[] = [];
    for (const key of touched) {
      const before = holders.get(key);
      const after = claimsByKey.get(key)?.[0]?.container;
      if (after) holders.set(key, after);
      else holders.delete(key);
      if (before?.hash !== after?.hash || before?.origin !== after?.origin) changed.push(key);
    }
    if (changed.length > 0) {
      const before = cycles;
      cycles = cyclesByKey(holders.values());
      // A cycle made or broken elsewhere changes what its members wait for.
      for (const key of new Set([...before.keys(), ...cycles.keys()])) {
        if (before.get(key) !== cycles.get(key) && !changed.includes(key)) changed.push(key);
      }
    }
    if (changed.length > 0 || (!wasReady && isReady())) {
      changed.sort();
      for (const listener of [...listeners]) listener(changed);
    }
  }

  function problems(): Problem[] {
    const out: Problem[] = [];
    for (const name of sources.keys()) out.push(...sources.get(name)!.problems);
    for (const [key, claims] of claimsByKey) {
      const holder = claims[0].container;
      for (const loser of claims.slice(1)) {
        out.push({
          file: originFile(loser.container.origin),
          path: 'metadata.name',
          key,
          message: `${key} conflicts with ${holder.origin}, which declared it first; ignored while that one declares it`,
        });
      }
    }
    if (cycles.size > 0) out.push(...cycleProblems(holders.values()));
    return out;
  }

  return {
    update,
    desired: () => holders,
    problems,
    cycle: (key) => cycles.get(key),
    ready: isReady,
    prefer(origins) {
      preferred = origins;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
