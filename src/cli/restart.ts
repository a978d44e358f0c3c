// `converge restart NAME`: a new task for the container now, counted as a restart. With a
// controller running, it asks the controller (POST /v1/restart on its --listen server), so
// that the controller's own state (restart count, back-off, health) stays true. With none
// running, it does the same itself against containerd: stop (the stop signal and grace the
// container was made with), count, start. A controller running without --listen is not
// gone around: two actors on one task would race.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { COMMON, STATE_FILE } from './common.js';
import { target } from './connect.js';
import { serverFromState } from './status.js';
import { requestTo, serverFromFlag } from './server-client.js';
import { resolveAddress } from '../embedded/address.js';
import { createContainerdRuntime } from '../containerd/runtime.js';
import { createLogger } from '../log.js';
import { stopOf } from '../reconcile/apply.js';

export const RESTART_USAGE = 'usage: converge restart NAME|NAMESPACE/NAME [--server HOST:PORT | https://HOST:PORT] [--token-file F]\n';

export async function restartCommand(args: string[]): Promise<number> {
  const options = { ...COMMON, server: { type: 'string' }, 'token-file': { type: 'string' } } as const;
  const { values, positionals } = parseArgs({ args, options, allowPositionals: true });
  if (values.help) {
    process.stdout.write(RESTART_USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    process.stderr.write(RESTART_USAGE);
    return 2;
  }
  const { key } = target(positionals[0]);
  const stateDir = path.resolve(values['state-dir']);
  const server = values.server ? serverFromFlag(values.server) : await serverFromState(stateDir);
  if (server) {
    const token = values['token-file'] ? fs.readFileSync(values['token-file'], 'utf8').trim() : undefined;
    // The controller answers once the new task runs: the grace period of the old one at most, and a minute.
    const res = await requestTo(server, `/v1/restart?key=${encodeURIComponent(key)}&wait=1`, { method: 'POST', token, timeoutMs: 10 * 60_000 });
    const body = JSON.parse(res.body || '{}') as { error?: string; pid?: number | null; oldPid?: number | null; restarts?: number };
    if (res.status !== 200) {
      process.stderr.write(`converge: restart: ${body.error ?? `${server.address} answered ${res.status}`}\n`);
      return 1;
    }
    process.stdout.write(`${key}: restarted (pid ${body.oldPid ?? '-'} -> ${body.pid ?? '-'}, restarts ${body.restarts})\n`);
    return 0;
  }
  const other = controllerPid(stateDir);
  if (other !== undefined) {
    process.stderr.write(`converge: restart: the controller (pid ${other}) on ${stateDir} runs without --listen; restart goes through it: run it with --listen\n`);
    return 1;
  }
  return restartDirectly(values, stateDir, key);
}

/** No controller: stop, count and start against containerd, as the controller's restart does. */
async function restartDirectly(values: { 'containerd-address'?: string; namespace: string }, stateDir: string, key: string): Promise<number> {
  const { address } = await resolveAddress(values['containerd-address'], stateDir);
  const runtime = createContainerdRuntime({ address, namespace: values.namespace, stateDir, log: createLogger({ level: 'warn' }) });
  try {
    const actual = await runtime.get(key);
    if (!actual) {
      process.stderr.write(`converge: restart: no container ${key} in namespace ${values.namespace}\n`);
      return 1;
    }
    if (!actual.managed) {
      process.stderr.write(`converge: restart: ${actual.id} was not made by converge; it is left alone\n`);
      return 1;
    }
    const stop = stopOf(actual, undefined);
    await runtime.stop(key, stop.signal, stop.graceMs);
    await runtime.setRestarts(key, actual.restarts + 1);
    const { pid } = await runtime.start(key);
    const old = actual.task && actual.task.status !== 'stopped' ? actual.task.pid : '-';
    process.stdout.write(`${key}: restarted without a controller (pid ${old} -> ${pid}, restarts ${actual.restarts + 1})\n`);
    return 0;
  } finally {
    runtime.close();
  }
}

/** The pid of a live `converge run` on this state dir, if any. */
function controllerPid(stateDir: string): number | undefined {
  try {
    const { pid } = JSON.parse(fs.readFileSync(path.join(stateDir, STATE_FILE), 'utf8')) as { pid?: number };
    if (!pid) return undefined;
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
