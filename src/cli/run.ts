// `converge run`: the controller process. Wires containerd (given, system or embedded),
// the directory, Git and Kubernetes sources, the controller, and what publishes its status
// stream (metrics, the --listen server, status and Events on Kubernetes resources), and
// shuts them down on SIGTERM/SIGINT leaving every container running.

import fs from 'node:fs/promises';
import path from 'node:path';
import { resolveAddress, socketAnswers } from '../embedded/address.js';
import { createLogger, type Logger } from '../log.js';
import { createContainerdRuntime } from '../containerd/runtime.js';
import { startEmbeddedContainerd, type EmbeddedContainerd } from '../embedded/containerd.js';
import { networkFromFlags } from './net-flags.js';
import { listenFromFlags } from './listen-flags.js';
import { sourcesRoute } from '../publish/webhook.js';
import { autoUpdateRoute } from '../publish/autoupdate.js';
import { restartRoute } from '../publish/restart.js';
import { createController } from '../reconcile/controller.js';
import { collectAtScrape, countProbes, countReconciles, createMetrics, observePull } from '../publish/metrics.js';
import { keyOfId } from '../containerd/labels.js';
import { VERSION } from '../version.js';
import { type ServerSecurity, startServer, type StatusServer } from '../publish/http.js';
import { createStatusPage } from '../publish/statuspage.js';
import { failpointFromEnv } from './failpoint.js';
import { gateFromFlags, policyFromFlags } from './policy-flags.js';
import { loadConfigFile } from './config.js';
import { type LiveSettings, type RunValues, fixedSettings, liveSettings, mergeValues, parseRunFlags } from './run-flags.js';
import { type SourceSetup, dirSource, sourcesFromFlags } from './source-flags.js';
import { reloadOnHangup } from './reload.js';
import { asUsage } from './usage.js';
import { logsFromFlags } from './log-flags.js';

export { STATE_FILE } from './common.js';
import { STATE_FILE } from './common.js';

export async function runCommand(args: string[]): Promise<number> {
  // Until the reload path listens, a SIGHUP (its default action ends the process) is kept for later.
  let hungUp = false;
  const early = (): void => void (hungUp = true);
  process.on('SIGHUP', early);
  try {
    return await runWith(args, () => hungUp);
  } finally {
    process.off('SIGHUP', early);
  }
}

async function runWith(args: string[], hungUp: () => boolean): Promise<number> {
  const { values: flags, given } = parseRunFlags(args);
  const values = flags.config === undefined ? flags : mergeValues(flags, given, await loadConfigFile(flags.config));
  const live = liveSettings(values);
  const fixed = fixedSettings(values);
  const stateDir = path.resolve(values['state-dir']);
  const log = createLogger({ level: live.logLevel });
  // Before containerd starts: a bad flag must not leave an embedded containerd behind.
  const setup = await sourcesFromFlags(values, { stateDir, log });
  const network = asUsage(() => networkFromFlags(values));
  const security = asUsage(() => listenFromFlags(values));
  const policy = await policyFromFlags(values);
  const logs = await logsFromFlags(values);
  await fs.mkdir(stateDir, { recursive: true });

  const { address, embedded } = await resolveAddress(values['containerd-address'], stateDir);
  let own: EmbeddedContainerd | undefined;
  if (embedded && !(await socketAnswers(address))) {
    own = await startEmbeddedContainerd({ dir: path.join(stateDir, 'containerd'), log });
  }
  log.info({ address, embedded: own !== undefined, namespace: values.namespace, config: flags.config ?? null }, 'using containerd');
  try {
    return await serve({ flags, given, values, live, ...fixed, address, stateDir, log, setup, network, security, policy, hungUp, logs });
  } finally {
    await own?.stop();
  }
}

async function serve(ctx: {
  flags: RunValues;
  given: ReadonlySet<string>;
  values: RunValues;
  live: LiveSettings;
  address: string;
  stateDir: string;
  log: Logger;
  setup: SourceSetup;
  network: ReturnType<typeof networkFromFlags>;
  workers: number;
  resyncMs: number;
  security: ServerSecurity | undefined;
  policy: Awaited<ReturnType<typeof policyFromFlags>>;
  autoUpdate: { intervalMs: number; windowMs: number };
  hungUp: () => boolean;
  logs: Awaited<ReturnType<typeof logsFromFlags>>;
}): Promise<number> {
  const { values, live, address, stateDir, log, network, workers, resyncMs, security, policy } = ctx;
  const { sources, git, kube } = ctx.setup;
  const failpoint = failpointFromEnv(process.env.CONVERGE_FAILPOINT);
  const metrics = createMetrics({ processMetrics: true, version: VERSION });
  const onPull = (p: { ms: number; bytes: number; ok: boolean }): void => observePull(metrics, p);
  const runtime = createContainerdRuntime({
    address, namespace: values.namespace, stateDir, snapshotter: values.snapshotter, log, registry: live.registry, failpoint, network, maxGraceMs: live.maxGraceMs, onPull, logs: ctx.logs,
  });
  const said = new Map<string, string>();
  const onOutcome = (_key: string, r: { outcome: string }): void => void metrics.updates.inc({ outcome: r.outcome });
  const gate = gateFromFlags(values, policy, log, said);
  const controller = createController({ runtime, sources, gate, log, workers, resyncMs, backoff: live.backoff, autoUpdate: { ...ctx.autoUpdate, onOutcome } });
  const target = { store: controller.store, addSource: controller.addSource, removeSource: controller.removeSource, setBackoff: controller.setBackoff, configure: runtime.configure };
  const stopReloading = reloadOnHangup({ flags: ctx.flags, given: ctx.given, values, live, log, target, dirSource: (dir) => dirSource(dir, log), sources, said });
  if (ctx.hungUp()) process.emit('SIGHUP', 'SIGHUP');
  countReconciles(metrics, controller);
  countProbes(metrics, controller);
  collectAtScrape(metrics, {
    usage: async () => (await runtime.stats()).map((u) => ({ ...u, ...nameOf(u.id) })),
    queueDepth: controller.queueDepth,
    sourceSyncs: controller.sourceSyncs,
  });
  const kubePublisher = kube?.publish(controller, runtime);

  let server: StatusServer | undefined;
  const page = values.listen ? createStatusPage({ controller, sources, logFile: runtime.logPath }) : undefined;
  if (values.listen) {
    const routes = [...(git?.routes ?? []), sourcesRoute(sources), autoUpdateRoute(controller.updater), restartRoute(controller)];
    server = await startServer(values.listen, { ready: controller.ready, status: controller.status, metrics, log, routes, security, page });
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
  page?.close();
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

/** A container ID's namespace and name labels. */
function nameOf(id: string): { namespace: string; name: string } {
  const key = keyOfId(id);
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
