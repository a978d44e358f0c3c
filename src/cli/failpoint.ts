// Failpoints for the fault tests: CONVERGE_FAILPOINT=<step>[:<n>] makes `converge run`
// SIGKILL itself the n-th time (default the first) it reaches a named step of a create,
// start or removal, the way a crash or an OOM kill would stop it there. Unset: no cost.

import { writeSync } from 'node:fs';
import { FAILPOINT_STEPS, type FailpointStep } from '../containerd/runtime.js';

export function failpointFromEnv(value: string | undefined): ((step: FailpointStep) => void) | undefined {
  if (!value) return undefined;
  const [step, nth = '1'] = value.split(':');
  const n = Number(nth);
  if (!(FAILPOINT_STEPS as readonly string[]).includes(step) || !Number.isInteger(n) || n < 1) {
    throw new Error(`CONVERGE_FAILPOINT: expected <step>[:<n>] with a step of ${FAILPOINT_STEPS.join(', ')}, got '${value}'`);
  }
  let seen = 0;
  return (reached) => {
    if (reached !== step || ++seen < n) return;
    // Written synchronously: pino's asynchronous destination would lose it with the process.
    writeSync(2, `${JSON.stringify({ level: 50, time: new Date().toISOString(), msg: 'failpoint reached; killing converge', step, nth: n })}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}
