// `converge run`: the controller process. Wires containerd (given, system or embedded),
// the directory, Git and Kubernetes sources, the controller, and what publishes its status
// stream (metrics, the --listen server, status and Events on Kubernetes resources), and
// shuts them down on SIGTERM/SIGINT leaving every container running.

import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { COMMON } from './common.js';
import { parseDuration } from '../duration.js';
import { resolveAddress, socketAnswers } from '../embedded/address.js';
import { createLogger, type Logger } from '../log.js';
import type { BackoffOptions } from '../backoff.js';
import { createContainerdRuntime } from '../containerd/runtime.js';
import { startEmbeddedContainerd, type EmbeddedContainerd } from '../embedded/containerd.js';
import { createDirectorySource } from '../sources/directory.js';
import { REGISTRY_OPTIONS, registrySettings } from './pull.js';
import { GIT_FLAGS, gitFromFlags } from './git-flags.js';
import { KUBE_FLAGS, kubeFromFlags } from './kube-flags.js';
import { NET_FLAGS, networkFromFlags } from './net-flags.js';
import { LISTEN_FLAGS, listenFromFlags } from './listen-flags.js';
import { sourcesRoute } from '../publish/webhook.js';
import { autoUpdateRoute } from '../publish/autoupdate.js';
import { createController } from '../reconcile/controller.js';
import { countProbes, countReconciles, createMetrics } from '../publish/metrics.js';
import { type ServerSecurity, startServer, type StatusServer } from '../publish/http.js';
import { failpointFromEnv } from './failpoint.js';
import { POLICY_FLAGS, gateFromFlags, policyFromFlags, reloadOnHangup } from './policy-flags.js';
import { LOG_FLAGS, logsFromFlags } from './log-flags.js';

export { STATE_FILE } from './common.js';
import { STATE_FILE } from './common.js';

function parseRunArgs(args: string[]) {
  return parseArgs({
    args,
    options: {
      ...COMMON,
      dir: { type: 'string', multiple: true, default: [] },
      ...LISTEN_FLAGS,
      snapshotter: { type: 'string', default: 'overlayfs' },
      workers: { type: 'string', default: '8' },
      resync: { type: 'string', default: '60s' },
      'backoff-initial': { type: 'string', default: '100ms' },
      'backoff-max': { type: 'string', default: '5m' },
      'backoff-reset': { type: 'string', default: '10s' },
      'max-grace-period': { type: 'string', default: '5m' },
      'auto-update-interval': { type: 'string', default: '15m' },
      'auto-update-rollback-window': { type: 'string', default: '60s' },
      ...GIT_FLAGS,
      ...KUBE_FLAGS,
      ...NET_FLAGS,
      ...REGISTRY_OPTIONS,
      ...POLICY_FLAGS,
      ...LOG_FLAGS,
    },
  });
}

type RunValues = ReturnType<typeof parseRunArgs>['values'];

export async function runCommand(args: string[]): Promise<number> {
  const { values } = parseRunArgs(args);
  if (values.help) {
    process.stdout.write('usage: converge run (--dir DIR | --git URL | --kube) [--listen HOST:PORT] [...]; see converge help\n');
    return 0;
  }
  if (values.dir.length === 0 && !values.git && !values.kube) throw new Error('run: at least one --dir, a --git or --kube is needed');
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers: expected a whole number >= 1, got '${values.workers}'`);
  const backoff = {
    initialMs: parseDuration(values['backoff-initial'], '--backoff-initial'),
    maxMs: parseDuration(values['backoff-max'], '--backoff-max'),
    resetAfterMs: parseDuration(values['backoff-reset'], '--backoff-reset'),
  };
  const resyncMs = parseDuration(values.resync, '--resync');
  const maxGraceMs = parseDuration(values['max-grace-period'], '--max-grace-period');
  const autoUpdate = {
    intervalMs: parseDuration(values['auto-update-interval'], '--auto-update-interval'),
    windowMs: parseDuration(values['auto-update-rollback-window'], '--auto-update-rollback-window'),
  };
  const stateDir = path.resolve(values['state-dir']);
  const log = createLogger({ level: values['log-level'] });
  // Before containerd starts: a bad flag must not leave an embedded containerd behind.
  const kube = await kubeFromFlags(values, { log });
  const git = gitFromFlags(values, { stateDir, log });
  const registry = registrySettings(values);
  const network = networkFromFlags(values);
  const security = listenFromFlags(values);
  const policy = await policyFromFlags(values);
  const logs = await logsFromFlags(values);
  await fs.mkdir(stateDir, { recursive: true });

  const { address, embedded } = await resolveAddress(values['containerd-address'], stateDir);
  let own: EmbeddedContainerd | undefined;
  if (embedded && !(await socketAnswers(address))) {
    own = await startEmbeddedContainerd({ dir: path.join(stateDir, 'containerd'), log });
  }
  log.info({ address, embedded: own !== undefined, namespace: values.namespace }, 'using containerd');
  try {
    return await serve({ values, address, stateDir, log, kube, git, registry, network, workers, resyncMs, backoff, security, maxGraceMs, policy, autoUpdate, logs });
  } finally {
    await own?.stop();
  }
}

async function serve(ctx: {
  values: RunValues;
  address: string;
  stateDir: string;
  log: Logger;
  kube: Awaited<ReturnType<typeof kubeFromFlags>>;
  git: ReturnType<typeof gitFromFlags>;
  registry: ReturnType<typeof registrySettings>;
  network: ReturnType<typeof networkFromFlags>;
  workers: number;
  resyncMs: number;
  backoff: BackoffOptions;
  security: ServerSecurity | undefined;
  maxGraceMs: number;
  policy: Awaited<ReturnType<typeof policyFromFlags>>;
  autoUpdate: { intervalMs: number; windowMs: number };
  logs: Awaited<ReturnType<typeof logsFromFlags>>;
}): Promise<number> {
  const { values, address, stateDir, log, kube, git, registry, network, workers, resyncMs, backoff, security, maxGraceMs, policy, logs } = ctx;
  const failpoint = failpointFromEnv(process.env.CONVERGE_FAILPOINT);
  const runtime = createContainerdRuntime({ address, namespace: values.namespace, stateDir, snapshotter: values.snapshotter, log, registry, failpoint, network, maxGraceMs, logs });
  const sources = values.dir.map((dir) => createDirectorySource({ dir: path.resolve(dir), log }));
  if (git) sources.push(git.source);
  if (kube) sources.push(kube.source);
  const metrics = createMetrics({ processMetrics: true });
  const said = new Map<string, string>();
  const onOutcome = (_key: string, r: { outcome: string }): void => void metrics.updates.inc({ outcome: r.outcome });
  const gate = gateFromFlags(values, policy, log, said);
  const controller = createController({ runtime, sources, gate, log, workers, resyncMs, backoff, autoUpdate: { ...ctx.autoUpdate, onOutcome } });
  const stopReloading = reloadOnHangup(values, controller.store, log, said);
  countReconciles(metrics, controller);
  countProbes(metrics, controller);
  const kubePublisher = kube?.publish(controller, runtime);

  let server: StatusServer | undefined;
  if (values.listen) {
    const routes = [...(git?.routes ?? []), sourcesRoute(sources), autoUpdateRoute(controller.updater)];
    server = await startServer(values.listen, { ready: controller.ready, status: controller.status, metrics, log, routes, security });
  }
  const tlsCert = values['tls-cert'] ? path.resolve(values['tls-cert']) : null;
  await fs.writeFile(
    path.join(stateDir, STATE_FILE),
    JSON.stringify({ pid: process.pid, listen: server?.address ?? null, scheme: server?.scheme ?? null, tlsCert, address, namespace: values.namespace }) + '\n',
  );

  const stopping = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await ensureNamespace(runtime, log);
  await controller.start();
  const signal = await stopping;
  stopReloading();
  log.info({ signal }, 'stopping; containers keep running');
  // The publisher first: nothing is written back to Kubernetes for the last reconciles.
  await kubePublisher?.stop();
  await controller.stop();
  await server?.close();
  runtime.close();
  await fs.rm(path.join(stateDir, STATE_FILE), { force: true });
  log.flush?.();
  return 0;
}

/** Creating the namespace is not needed for containerd but makes `ctr ns ls` show it at once. */
async function ensureNamespace(runtime: { ensureNamespace(): Promise<void> }, log: ReturnType<typeof createLogger>): Promise<void> {
  try {
    await runtime.ensureNamespace();
  } catch (err) {
    log.warn({ err }, 'could not create the containerd namespace yet');
  }
}
