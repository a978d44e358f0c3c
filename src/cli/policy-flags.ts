// --policy FILE and --allow-empty GLOB: the gate every spec passes before it is desired
// (src/policy/), for run, plan and validate alike. Without --policy the per-source
// defaults hold (dir: privileged; git: and kube: baseline). `run` re-reads the file on
// SIGHUP (reload.ts): a good one replaces the gate (only containers whose admission
// changes are touched), a bad one is reported and the running one kept.

import type { ParseArgsConfig } from 'node:util';
import type { Logger } from 'pino';
import type { Gate } from '../desired.js';
import { formatProblem } from '../spec/load.js';
import { loadPolicyFile } from '../policy/file.js';
import { DEFAULT_POLICY, createGate } from '../policy/gate.js';
import type { Policy } from '../policy/types.js';

export const POLICY_FLAGS = {
  policy: { type: 'string' },
  'allow-empty': { type: 'string', multiple: true, default: [] },
} as const satisfies ParseArgsConfig['options'];

export interface PolicyFlagValues {
  policy?: string;
  'allow-empty': string[];
}

/** The policy of --policy (or the defaults); throws PolicyError with every problem of the file. */
export async function policyFromFlags(values: PolicyFlagValues): Promise<Policy> {
  return values.policy ? loadPolicyFile(values.policy) : DEFAULT_POLICY;
}

/**
 * The gate of the flags. With a logger, each denial is logged once per spec version (the
 * gate is asked again at every read of a source, so it says a thing once, not at every
 * read), and a spec allowed again says so.
 */
export function gateFromFlags(values: PolicyFlagValues, policy: Policy, log?: Logger, said = new Map<string, string>()): Gate {
  const gate = createGate({ policy, allowEmpty: values['allow-empty'] });
  if (!log) return gate;
  return {
    allowEmpty: gate.allowEmpty,
    held(source, holding, problem) {
      if (holding) log.warn({ source, problem: formatProblem(problem) }, 'source is empty; holding what it declared');
      else log.info({ source }, 'source has specs again');
    },
    admit(container, source) {
      const a = gate.admit(container, source);
      const id = `${container.origin}\0${container.key}`;
      if (!a.ok) {
        const problems = a.problems.map(formatProblem);
        const text = `${container.hash}\n${problems.join('\n')}`; // each version once
        if (said.get(id) !== text) {
          log.warn({ key: container.key, origin: container.origin, hash: container.hash, problems }, 'spec denied by policy; nothing of it runs but its file\'s last allowed specs');
        }
        said.set(id, text);
      } else if (said.delete(id)) {
        log.info({ key: container.key, origin: container.origin }, 'spec allowed by policy');
      }
      return a;
    },
  };
}
