// The desired state: merges the latest snapshot of every source into one map of key ->
// container, and tells listeners which keys changed so that a controller enqueues only those.
//
// Conflicts (two files or sources declaring the same namespace/name) go to the FIRST claimant:
// a claim lasts while its declarer still declares the key, a newcomer never takes it over,
// and when the holder lets go the next claimant in order of arrival gets it. So nothing
// flaps, and within one snapshot the order of the snapshot (sorted file names) decides.
// The losers are reported as problems. So are dependsOn cycles among the holders: every
// member is named, on every member's row, and the planner starts none of them.
//
// Between a source and the claims stands a Gate (the policy, given by cli/): a container it
// denies is bad input like an invalid file, so the file (origin) keeps its last admitted
// specs, or has none. And an empty read is suspicious like an unreadable one: a complete
// snapshot with no spec at all from a source whose containers run (an emptied or
// mounted-over directory, a commit that deletes every spec) changes nothing and is
// reported, unless the gate allows that source to be empty. A new gate (SIGHUP) re-admits
// every source's latest snapshot; only keys whose container changes are reported.

import type { Logger } from './log.js';
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

export type Admission = { ok: true; container: DesiredContainer } | { ok: false; problems: Problem[] };

/** What may run, and when an empty source may prune: the policy, as the store sees it. */
export interface Gate {
  /**
   * Whether `container`, read by `source`, may run. Denied: problems naming the file, the
   * field and the rule. Admitted: the container to run (e.g. with bind sources resolved).
   */
  admit(container: DesiredContainer, source: string): Admission;
  /** Whether a complete read of `source` with no spec at all may remove what it declared. */
  allowEmpty(source: string): boolean;
  /** Told when an empty read of `source` starts (true) or stops (false) being held. */
  held?(source: string, holding: boolean, problem: Problem): void;
}

/** Admits everything and lets no source prune by being empty. */
export const OPEN_GATE: Gate = { admit: (container) => ({ ok: true, container }), allowEmpty: () => false };

export interface DesiredStore {
  /** Replaces everything the snapshot's source said before with what it says now. */
  update(snapshot: Snapshot): void;
  /** Key -> the container that holds it. */
  desired(): ReadonlyMap<Key, DesiredContainer>;
  /** The gate's denials of every source's latest snapshot. */
  denials(): Problem[];
  /** Replaces the gate and admits every source's latest snapshot again. */
  setGate(gate: Gate): void;
  /** A source configured after the start (SIGHUP): not ready() until it has reported once. */
  addSource(name: string): void;
  /** Forgets a source and everything it declared, as if it had declared nothing (SIGHUP). */
  removeSource(name: string): void;
  /** The problems of every source's latest snapshot, its denials, plus one per losing claim and per member of a dependency cycle. */
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
  /**
   * The spec hash and origin of each container converge made that exists before the
   * sources are read. A file the gate denies at its first read keeps, as its last allowed
   * specs, those that already run unchanged: a policy that turned stricter while converge
   * was down (or an upgrade that brought the policy) stops nothing that runs, as it would
   * not while converge runs.
   */
  adopt(existing: ReadonlyMap<Key, { origin: string; hash: string }>): void;
}

interface Claim {
  source: string;
  container: DesiredContainer;
}

interface SourceState {
  /** "key\0origin" -> claim, for the claims of the latest snapshot. */
  claims: Map<string, Claim>;
  problems: Problem[];
  denials: Problem[];
  seenComplete: boolean;
  /** Its latest read is an empty one, held. */
  held: boolean;
  /** The latest snapshot as the source sent it, for a new gate. */
  raw?: Snapshot;
  /** Origin -> its last specs the gate admitted: what a denied file keeps running. */
  lastGood: Map<string, DesiredContainer[]>;
}

/** The file or resource an origin names: "dir:/etc/x.yaml" -> "/etc/x.yaml". */
function originFile(origin: string): string {
  return origin.startsWith('dir:') ? origin.slice(4) : origin;
}

/** Whether `origin` is one of `source`'s: "dir:/s" has "dir:/s/a.yaml", "git:U" has "git:U:f", "kube" has "kube:ns/n". */
export function sourceOwns(source: string, origin: string): boolean {
  if (origin.startsWith(`${source}:`)) return true;
  return origin.startsWith(`${source}/`) && !origin.slice(source.length + 1).includes('/');
}

const newState = (): SourceState => ({ claims: new Map(), problems: [], denials: [], seenComplete: false, held: false, lastGood: new Map() });

export function createDesiredStore(sourceNames: string[], initialGate: Gate = OPEN_GATE, log?: Logger): DesiredStore {
  const names = [...sourceNames];
  const sources = new Map<string, SourceState>();
  for (const name of names) sources.set(name, newState());
  let gate = initialGate;
  /** Key -> claims in order of arrival; the first one holds the key. */
  const claimsByKey = new Map<Key, Claim[]>();
  const holders = new Map<Key, DesiredContainer>();
  const listeners = new Set<(keys: Key[]) => void>();
  let preferred: ReadonlyMap<Key, string> = new Map();
  let existing: ReadonlyMap<Key, { origin: string; hash: string }> = new Map();
  /** Cycles among the holders, found again whenever a holder changes. */
  let cycles = new Map<Key, string>();
  /** The conflicts and cycles logged and not yet gone: "key\0file" -> what was said. */
  const said = new Map<string, string>();

  const isReady = () => names.every((n) => sources.get(n)?.seenComplete === true);

  /** The snapshot's specs the gate admits, per origin whole: a denied origin keeps its last good. */
  function admitted(source: string, state: SourceState, snapshot: Snapshot): DesiredContainer[] {
    const byOrigin = new Map<string, DesiredContainer[]>();
    for (const c of snapshot.specs) byOrigin.set(c.origin, [...(byOrigin.get(c.origin) ?? []), c]);
    const specs: DesiredContainer[] = [];
    const lastGood = new Map<string, DesiredContainer[]>();
    state.denials = [];
    for (const [origin, list] of byOrigin) {
      const results = list.map((c) => gate.admit(c, source));
      const denied = results.flatMap((r) => (r.ok ? [] : r.problems));
      const good = denied.length === 0 ? results.map((r) => (r as { container: DesiredContainer }).container) : (state.lastGood.get(origin) ?? running(list));
      state.denials.push(...denied);
      if (good) {
        lastGood.set(origin, good);
        specs.push(...good);
      }
    }
    state.lastGood = lastGood;
    return specs;
  }

  /** Of a denied file never admitted in this run: its specs that run unchanged (see adopt). */
  function running(list: DesiredContainer[]): DesiredContainer[] | undefined {
    const same = list.filter((c) => existing.get(c.key)?.origin === c.origin && existing.get(c.key)?.hash === c.hash);
    return same.length > 0 ? same : undefined;
  }

  /**
   * Whether an empty complete read of `source` is held: it declared containers until now, or
   * (before the first read) containers from it run. Held, it changes nothing.
   */
  function heldEmpty(source: string, state: SourceState, snapshot: Snapshot): boolean {
    if (!snapshot.complete || !(snapshot.empty ?? snapshot.specs.length === 0) || gate.allowEmpty(source)) return false;
    if (state.claims.size > 0) return true;
    return !state.seenComplete && [...preferred.values()].some((origin) => sourceOwns(source, origin));
  }

  function emptyProblem(source: string, state: SourceState): Problem {
    const what = state.claims.size > 0 ? `${state.claims.size} container(s) it declared keep running` : 'containers from it run, so nothing is removed until it has specs';
    return {
      file: originFile(source),
      path: '',
      message: `the source is empty (no spec at all); ${what}, as an emptied or mounted-over directory or a bad commit would look the same (allow it with --allow-empty)`,
    };
  }

  /** Takes a claim out of its key's line; returns the key. */
  function dropClaim(claim: Claim): Key {
    const key = claim.container.key;
    const list = claimsByKey.get(key)!.filter((c) => c !== claim);
    if (list.length > 0) claimsByKey.set(key, list);
    else claimsByKey.delete(key);
    return key;
  }

  /** Applies the source's latest snapshot through the gate; returns the keys it touched. */
  function apply(source: string, state: SourceState, wasReady: boolean): Set<Key> {
    const snapshot = state.raw!;
    const touched = new Set<Key>();
    if (heldEmpty(source, state, snapshot)) {
      const problem = emptyProblem(source, state);
      state.problems = [...snapshot.problems, problem];
      state.denials = [];
      if (!state.held) gate.held?.(source, true, problem);
      state.held = true;
      return touched;
    }
    if (state.held) gate.held?.(source, false, { file: originFile(source), path: '', message: 'the source has specs again' });
    state.held = false;
    const next = new Map<string, Claim>();
    for (const container of admitted(source, state, snapshot)) {
      const id = `${container.key}\0${container.origin}`;
      if (!next.has(id)) next.set(id, { source, container });
    }
    for (const [id, claim] of state.claims) if (!next.has(id)) touched.add(dropClaim(claim));
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
    return touched;
  }

  /** Moves holders after claims changed and tells the listeners which keys changed. */
  function settle(touched: Set<Key>, wasReady: boolean): void {
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
    tell();
  }

  /** Logs each conflict and cycle once when it appears (or changes), and once when it is gone. */
  function tell(): void {
    if (!log) return;
    const now = new Map<string, { fields: Record<string, unknown>; text: string; msg: string }>();
    for (const p of conflictProblems()) {
      const holder = claimsByKey.get(p.key!)![0].container.origin;
      now.set(`${p.key}\0${p.file}`, { fields: { key: p.key, file: p.file, holder: originFile(holder) }, text: p.message, msg: 'same-name conflict: ignoring the later declaration while the first one declares it' });
    }
    for (const p of cycles.size > 0 ? cycleProblems(holders.values()) : []) {
      now.set(`${p.key}\0${p.file}`, { fields: { key: p.key, file: p.file, cycle: cycles.get(p.key!) }, text: p.message, msg: 'dependsOn cycle: none of its members is started' });
    }
    for (const [id, { fields, text, msg }] of now) {
      if (said.get(id) !== text) log.warn({ ...fields, problem: text }, msg);
      said.set(id, text);
    }
    for (const id of [...said.keys()]) {
      if (now.has(id)) continue;
      said.delete(id);
      const [key, file] = id.split('\0');
      log.info({ key, file }, 'conflict or cycle resolved');
    }
  }

  /** One problem per claim that waits behind another declaration of its key. */
  function conflictProblems(): Problem[] {
    const out: Problem[] = [];
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
    return out;
  }

  function update(snapshot: Snapshot): void {
    const wasReady = isReady();
    let state = sources.get(snapshot.source);
    if (!state) sources.set(snapshot.source, (state = newState()));
    state.raw = snapshot;
    settle(apply(snapshot.source, state, wasReady), wasReady);
  }

  function setGate(next: Gate): void {
    const wasReady = isReady();
    gate = next;
    const touched = new Set<Key>();
    for (const [source, state] of sources) {
      if (state.raw) for (const key of apply(source, state, wasReady)) touched.add(key);
    }
    settle(touched, wasReady);
  }

  function problems(): Problem[] {
    const out: Problem[] = [];
    for (const name of sources.keys()) out.push(...sources.get(name)!.problems, ...sources.get(name)!.denials);
    out.push(...conflictProblems());
    if (cycles.size > 0) out.push(...cycleProblems(holders.values()));
    return out;
  }

  function addSource(name: string): void {
    if (!names.includes(name)) names.push(name);
    if (!sources.has(name)) sources.set(name, newState());
  }

  function removeSource(name: string): void {
    const wasReady = isReady();
    if (names.includes(name)) names.splice(names.indexOf(name), 1);
    const state = sources.get(name);
    if (!state) return;
    sources.delete(name);
    const touched = new Set<Key>();
    for (const claim of state.claims.values()) touched.add(dropClaim(claim));
    settle(touched, wasReady);
  }

  return {
    update,
    addSource,
    removeSource,
    desired: () => holders,
    problems,
    denials: () => [...sources.values()].flatMap((s) => s.denials),
    setGate,
    cycle: (key) => cycles.get(key),
    ready: isReady,
    prefer(origins) {
      preferred = origins;
    },
    adopt(containers) {
      existing = containers;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
