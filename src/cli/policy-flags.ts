// --policy FILE and --allow-empty GLOB: the gate every spec passes before it is desired
// (src/policy/), for run, plan and validate alike. Without --policy the per-source
// defaults hold (dir: privileged; git: and kube: baseline). `run` re-reads the file on
// SIGHUP: a good one replaces the gate (only containers whose admission changes are
// touched), a bad one is reported and the running one kept.

import type { ParseArgsConfig } from 'node:util';
import type { Logger } from 'pino';
import type { DesiredStore, Gate } from '../desired.js';
import { formatProblem } from '../spec/load.js';
import { PolicyError, loadPolicyFile } from '../policy/file.js';
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

export function gateFromFlags(values: PolicyFlagValues, policy: Policy): Gate {
  return createGate({ policy, allowEmpty: values['allow-empty'] });
}

/** Re-reads --policy on SIGHUP into `store`'s gate; returns a function that stops listening. */
export function reloadOnHangup(values: PolicyFlagValues, store: DesiredStore, log: Logger): () => void {
  let reading = Promise.resolve();
  const reload = (): void => {
    reading = reading.then(async () => {
      if (!values.policy) {
        log.info({}, 'SIGHUP: no --policy to re-read');
        return;
      }
      try {
        const policy = await loadPolicyFile(values.policy);
        store.setGate(gateFromFlags(values, policy));
        log.info({ policy: values.policy, rules: policy.rules.length, denied: store.denials().length }, 'policy re-read');
      } catch (err) {
        const problems = err instanceof PolicyError ? err.problems.map(formatProblem) : [String(err)];
        log.error({ policy: values.policy, problems }, 'policy not re-read: keeping the one in force');
      }
    });
  };
  process.on('SIGHUP', reload);
  return () => process.off('SIGHUP', reload);
}
