// `converge plan`: what `run` would do now, computed by the same planner from one read of
// the sources (the same source flags and --config as run, built by the same code) and one
// listing of containerd. Changes nothing.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { COMMON } from './common.js';
import { resolveAddress } from '../embedded/address.js';
import { createLogger } from '../log.js';
import { createContainerdRuntime } from '../containerd/runtime.js';
import { createDesiredStore } from '../desired.js';
import { formatProblem } from '../spec/load.js';
import { dependencyStateOf, plan } from '../reconcile/plan.js';
import { DEFAULT_BACKOFF } from '../backoff.js';
import type { Key } from '../spec/types.js';
import { gateFromFlags, policyFromFlags } from './policy-flags.js';
import { loadConfigFile } from './config.js';
import { givenOf, mergeValues } from './run-flags.js';
import { SOURCE_FLAGS, sourcesFromFlags } from './source-flags.js';

function parsePlanFlags(args: string[]) {
  const { values, tokens } = parseArgs({ args, options: { ...COMMON, config: { type: 'string' }, ...SOURCE_FLAGS }, tokens: true });
  return { values, given: givenOf(tokens) };
}

export async function planCommand(args: string[]): Promise<number> {
  const { values: flags, given } = parsePlanFlags(args);
  // run's config file: plan uses its source, policy and containerd keys.
  const values = flags.config === undefined ? flags : mergeValues(flags, given, await loadConfigFile(flags.config));
  const log = createLogger({ level: values['log-level'] === 'info' ? 'warn' : values['log-level'] });
  const stateDir = path.resolve(values['state-dir']);
  const { sources } = await sourcesFromFlags(values, { stateDir, log });
  const policy = await policyFromFlags(values);
  const { address } = await resolveAddress(values['containerd-address'], stateDir);
  const runtime = createContainerdRuntime({ address, namespace: values.namespace, stateDir, log });
  try {
    // Listed first, as run does, so that an empty directory whose containers run is held.
    const actual = new Map((await runtime.list()).map((c) => [c.key, c] as const));
    const store = createDesiredStore(sources.map((s) => s.name), gateFromFlags(values, policy));
    store.prefer(new Map([...actual.values()].flatMap((c) => (c.origin ? [[c.key, c.origin] as const] : []))));
    store.adopt(new Map([...actual.values()].flatMap((c) => (c.origin && c.managed && c.specHash ? [[c.key, { origin: c.origin, hash: c.specHash }] as const] : []))));
    for (const source of sources) {
      await source.start((snapshot) => store.update(snapshot));
      await source.stop();
    }
    const denied = new Set(store.denials());
    for (const problem of store.problems()) process.stderr.write(`${denied.has(problem) ? 'denied' : 'problem'}: ${formatProblem(problem)}\n`);

    const actions = plan(store.desired(), actual, {
      now: Date.now(),
      backoff: DEFAULT_BACKOFF,
      restarts: new Map(),
      removalAllowed: store.ready(),
      // Health is known to a running controller only: Healthy dependencies show as waiting.
      dependency: (key: Key) => dependencyStateOf(key, store.desired(), actual),
      cycle: (key: Key) => store.cycle(key),
    });
    for (const a of actions) process.stdout.write(`${a.type.padEnd(8)} ${a.key}: ${a.reason}\n`);
    if (actions.length === 0) process.stdout.write('nothing to do: converged\n');
    return 0;
  } finally {
    runtime.close();
  }
}
