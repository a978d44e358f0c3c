// SIGHUP in `converge run`: the one reload path. It reads --config again (flags on the
// command line still win) and --policy, and only when all of it is good applies the
// difference to the running process: directories added (read, their containers started)
// or removed (their containers removed, like a deleted file's), the log level, the policy
// gate (only containers whose admission changes are touched), back-off, the grace cap and
// the registry settings (for the next pull). Nothing else is restarted. A setting that
// cannot change in a running process (--namespace, --listen, --workers, ...) is logged as
// needing a restart and otherwise ignored. A bad config or policy is logged with every
// problem and the running one is kept whole.

import type { Logger } from 'pino';
import type { DesiredStore, Source } from '../desired.js';
import { messageOf } from '../errors.js';
import { PolicyError } from '../policy/file.js';
import type { Policy } from '../policy/types.js';
import { formatProblem } from '../spec/load.js';
import type { RegistrySettings } from '../containerd/runtime.js';
import type { BackoffOptions } from '../backoff.js';
import { ConfigError, loadConfigFile } from './config.js';
import { gateFromFlags, policyFromFlags } from './policy-flags.js';
import { COMMAND_LINE_ONLY, type LiveSettings, RELOADABLE, RUN_FLAGS, type RunFlag, type RunValues, liveSettings, mergeValues } from './run-flags.js';

export interface ReloadTarget {
  store: DesiredStore;
  addSource(source: Source): Promise<void>;
  removeSource(name: string): Promise<void>;
  setBackoff(backoff: BackoffOptions): void;
  configure(next: { maxGraceMs: number; registry: RegistrySettings }): void;
}

export interface ReloadDeps {
  /** The command line as parsed, and which flags it named. */
  flags: RunValues;
  given: ReadonlySet<string>;
  /** What runs now: the merged values and their live settings. */
  values: RunValues;
  live: LiveSettings;
  log: Logger;
  target: ReloadTarget;
  /** The source of a --dir (not started). */
  dirSource(dir: string): Source;
  /** The run's list of sources (GET /v1/sources reads it), kept equal to what is read. */
  sources: Source[];
  /** The denials the running gate has logged, carried over to the next one. */
  said: Map<string, string>;
}

/** Keys whose value differs between two sets of values. */
function changedKeys(before: RunValues, after: RunValues): RunFlag[] {
  const keys = Object.keys(RUN_FLAGS) as RunFlag[];
  return keys.filter((k) => !COMMAND_LINE_ONLY.includes(k) && JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

type Read = { values: RunValues; live: LiveSettings; policy: Policy } | undefined;

/** Everything a reload needs, read and checked; undefined (and logged) when something is bad. */
async function readAll(deps: ReloadDeps): Promise<Read> {
  const file = deps.flags.config;
  let values = deps.values;
  let live: LiveSettings;
  try {
    if (file !== undefined) values = mergeValues(deps.flags, deps.given, await loadConfigFile(file));
    live = liveSettings(values);
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems.map(formatProblem) : [messageOf(err)];
    deps.log.error({ config: file, problems }, 'config not re-read: keeping the one in force');
    return undefined;
  }
  try {
    return { values, live, policy: await policyFromFlags(values) };
  } catch (err) {
    const problems = err instanceof PolicyError ? err.problems.map(formatProblem) : [messageOf(err)];
    deps.log.error({ policy: values.policy, problems }, 'policy not re-read: keeping the one in force');
    return undefined;
  }
}

/** Adds the new directories (first, so that the store is ready again) and removes the gone ones. */
async function applyDirs(deps: ReloadDeps, before: string[], after: string[]): Promise<void> {
  for (const dir of after.filter((d) => !before.includes(d))) {
    const source = deps.dirSource(dir);
    deps.sources.splice(deps.sources.filter((s) => s.name.startsWith('dir:')).length, 0, source);
    await deps.target.addSource(source);
    deps.log.info({ source: source.name }, 'source added');
  }
  for (const dir of before.filter((d) => !after.includes(d))) {
    const name = `dir:${dir}`;
    const at = deps.sources.findIndex((s) => s.name === name);
    if (at >= 0) deps.sources.splice(at, 1);
    await deps.target.removeSource(name);
    deps.log.info({ source: name }, 'source removed; its containers are removed');
  }
}

/** One SIGHUP: reads everything, then applies what changed. Resolves when it is applied. */
export async function reload(deps: ReloadDeps): Promise<void> {
  const { log, target } = deps;
  const read = await readAll(deps);
  if (!read) return;
  const { values, live, policy } = read;
  const changed = changedKeys(deps.values, values);
  const fixed = changed.filter((k) => !RELOADABLE.has(k));
  if (fixed.length > 0) log.warn({ settings: fixed.map((k) => `--${k}`) }, 'settings changed that need a restart; ignored until converge restarts');
  if (live.logLevel !== deps.live.logLevel) {
    log.info({ from: deps.live.logLevel, to: live.logLevel }, 'log level changed');
    log.level = live.logLevel;
  }
  if (values.policy !== undefined || deps.values.policy !== undefined || changed.includes('allow-empty')) {
    target.store.setGate(gateFromFlags(values, policy, log, deps.said));
    if (values.policy !== undefined) log.info({ policy: values.policy, rules: policy.rules.length, denied: target.store.denials().length }, 'policy re-read');
  }
  target.setBackoff(live.backoff);
  target.configure({ maxGraceMs: live.maxGraceMs, registry: live.registry });
  await applyDirs(deps, deps.live.dirs, live.dirs);
  const applied = changed.filter((k) => RELOADABLE.has(k));
  deps.values = values;
  deps.live = live;
  log.info({ config: deps.flags.config ?? null, changed: applied.map((k) => `--${k}`) }, 'config re-read');
}

/** Reloads on every SIGHUP, one at a time; returns a function that stops listening. */
export function reloadOnHangup(deps: ReloadDeps): () => void {
  let reading = Promise.resolve();
  const onHangup = (): void => {
    reading = reading.then(() => reload(deps)).catch((err: unknown) => deps.log.error({ err }, 'reload failed'));
  };
  process.on('SIGHUP', onHangup);
  return () => process.off('SIGHUP', onHangup);
}
