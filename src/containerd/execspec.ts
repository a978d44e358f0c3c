// The process spec of an extra process in a running task (Tasks.Exec), for health checks
// and `converge exec` alike: the container's own process (env, user, working directory,
// capabilities, rlimits, no_new_privileges) with another command line, and a terminal
// only when asked for.

import type { ContainersService } from './containers.js';

/** The container's OCI process spec, as its record holds it. */
export async function readProcessTemplate(containers: ContainersService, id: string): Promise<Record<string, unknown>> {
  const c = await containers.get(id);
  const spec = c.spec ? (JSON.parse(c.spec.toString('utf8')) as { process?: Record<string, unknown> }) : {};
  return spec.process ?? { user: { uid: 0, gid: 0 }, cwd: '/', env: [] };
}

/** `template` running `args`; with `terminal`, on a terminal of that size. */
export function execProcessSpec(template: Record<string, unknown>, args: string[], terminal?: { width: number; height: number }): Record<string, unknown> {
  const spec: Record<string, unknown> = { ...template, args, terminal: terminal !== undefined };
  delete spec.consoleSize;
  if (terminal) spec.consoleSize = { width: terminal.width, height: terminal.height };
  return spec;
}
