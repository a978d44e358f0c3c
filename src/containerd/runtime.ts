// reconcile's Runtime over containerd: what the reconciler asks for (list, create,
// start, stop, remove, ...) as sequences of containerd calls. Operations are safe to
// repeat: what is already gone counts as done; a timeout never does.

import path from 'node:path';
import type { Logger } from 'pino';
import type { ActualContainer, CreateOptions, Runtime, RuntimeEvent } from '../reconcile/runtime.js';
import type { DesiredContainer } from '../spec/types.js';
import { LABEL_KEY, LABEL_MANAGED, LABEL_NETWORK, LABEL_RESTARTS, LABEL_SOURCE, LABEL_SPEC_HASH, LABEL_STOP_GRACE, LABEL_STOP_SIGNAL, idOf, keyOfId } from './labels.js';
import { LABEL_FAILED_DIGEST, LABEL_IMAGE_DIGEST, LABEL_IMAGE_REF } from './labels.js';
import { NetworkGlue, networkLabel, noNetwork, requestOf, type NetworkSettings } from './netglue.js';
import { ImageKeeper } from './gc.js';
import { ContainerdClient } from './client.js';
import { ContainersService } from './containers.js';
import { ContentService } from './content.js';
import { isAlreadyExists, isDefinite, unlessNotFound } from './errors.js';
import { EventsService } from './events.js';
import { watchTaskEvents } from './eventstream.js';
import { shimSocketPath } from './shim-socket.js';
import { ImageResolver } from './image.js';
import { ContainerdImageStore } from './imagestore.js';
import { ImagesService } from './images.js';
import { LeaseKeeper, LeasesService } from './leases.js';
import { toActual } from './actual.js';
import { TaskOps } from './taskops.js';
import { TaskStarter } from './taskstart.js';
import { ExecProbes } from './execprobe.js';
import { probeContainer } from './probe.js';
import { NamespacesService } from './namespaces.js';
import { buildSpec, detectCgroupVersion, readHostRlimits } from './oci.js';
import { readHostCapabilities, readHostDevices } from './host.js';
import { SnapshotsService } from './snapshots.js';
import { cgroupsPathOf, runcOptions, runcRoot } from './runc.js';
import { TasksService } from './tasks.js';
import { StatsReader } from './statsreader.js';
import { writeTermination } from './termination.js';
import type { TaskStats } from './stats.js';
import type { FailpointStep, PullObservation, RegistrySettings } from './settings.js';
import { type UserFiles, needsUserFiles, readImageUserFiles, resolveUser } from './user.js';
import { type DaemonVersion, VersionService } from './version.js';
import { ImageNotPresentError } from '../pull/errors.js';
import type { PullOptions, PullResult } from '../pull/puller.js';
import { normalizeReference, pinnedReference } from '../spec/reference.js';
import { createPullerSlot } from './pullers.js';
import { createTaskLogs, type LogSettings } from '../logs/driver.js';

export interface ContainerdRuntimeOptions {
  /** containerd's gRPC socket path (or a "unix://" address). */
  address: string;
  /** The containerd namespace converge owns. */
  namespace: string;
  /** converge's state dir; task logs go to <stateDir>/logs/<namespace>.<name>.log (logs/files.ts). */
  stateDir: string;
  /** The task log driver and its rotation (logs/driver.ts); defaults for what is left out. */
  logs?: LogSettings;
  snapshotter?: string;
  runtimeName?: string;
  log: Logger;
  /** Default deadline of every call (10 s). */
  timeoutMs?: number;
  /** How images are pulled: registries spoken to over plain HTTP, where credentials are. */
  registry?: RegistrySettings;
  /**
   * The longest a stop waits for a task before SIGKILL, whatever a spec's
   * terminationGracePeriodSeconds (or a container's label) says. Default 5 minutes.
   */
  maxGraceMs?: number;
  /** Called at each named step of create, start and remove: the fault tests' failpoints. */
  failpoint?: (step: FailpointStep) => void;
  /**
   * The bridge for network: bridge containers. Only the controller (converge run) has one:
   * its first listing collects what no container is behind, which two runtimes over one
   * state dir must not both do.
   */
  network?: NetworkSettings;
  /** Told of every image pull (metrics). */
  onPull?: (p: PullObservation) => void;
}

export { FAILPOINT_STEPS, type FailpointStep, type PullObservation, type RegistrySettings } from './settings.js';

export interface ContainerdRuntime extends Runtime {
  close(): void;
  version(): Promise<DaemonVersion>;
  /** Creates the namespace; one that exists already is fine. */
  ensureNamespace(): Promise<void>;
  hasImage(ref: string): Promise<boolean>;
  /** Pulls image `ref` into containerd (and unpacks it into the snapshotter). */
  pull(ref: string, opts?: PullOptions): Promise<PullResult>;
  /** The current file the task of container `id` writes its stdout and stderr to (CRI format, rotated). */
  logPath(id: string): string;
  /**
   * New bounds (SIGHUP): the grace cap holds for the next stop, the registry settings for
   * the next pull (pulls under way finish under the old ones).
   */
  configure(next: { maxGraceMs: number; registry: RegistrySettings }): void;
  /** CPU and memory of every task of the namespace (cached; see StatsReader). */
  stats(): Promise<TaskStats[]>;
}

const USER_FILES_CACHE = 64;
export const DEFAULT_MAX_GRACE_MS = 5 * 60_000;

export function createContainerdRuntime(opts: ContainerdRuntimeOptions): ContainerdRuntime {
  const namespace = opts.namespace;
  const snapshotter = opts.snapshotter ?? 'overlayfs';
  const runtimeName = opts.runtimeName ?? 'io.containerd.runc.v2';
  const taskOptions = runtimeName === 'io.containerd.runc.v2' ? runcOptions(runcRoot(opts.address)) : undefined;
  const log = opts.log.child({ component: 'containerd' });
  const reached = opts.failpoint ?? ((): void => undefined);
  // --log-level trace: every containerd call with its time, to see where an action's time goes.
  const trace = log.isLevelEnabled('trace') ? (call: string, ms: number, code?: string): void => log.trace({ call, ms, code }, 'containerd call') : undefined;
  const client = new ContainerdClient({ address: opts.address, namespace, timeoutMs: opts.timeoutMs, trace });
  const timeoutMs = client.timeoutMs;
  const containers = new ContainersService(client);
  const tasks = new TasksService(client);
  const snapshots = new SnapshotsService(client);
  const leaseKeeper = new LeaseKeeper(new LeasesService(client), log);
  const images = new ImagesService(client);
  const events = new EventsService(client);
  const resolver = new ImageResolver(images, new ContentService(client));
  const taskLogs = createTaskLogs(opts.stateDir, opts.logs);
  // Host facts that do not change while converge runs.
  const hostRlimits = readHostRlimits();
  const cgroupVersion = detectCgroupVersion();
  const hostCapabilities = readHostCapabilities();
  // Image layers are immutable, so their /etc files are too: one mount per image, not per create.
  const userFiles = new Map<string, UserFiles>();
  // Long enough for the calls made under it; short, so a crash leaks nothing for long.
  const leaseMs = Math.max(60_000, 3 * timeoutMs);
  const withLease = <T>(fn: (lease: string) => Promise<T>): Promise<T> => leaseKeeper.withLease(leaseMs, fn);
  const taskOps = new TaskOps(tasks, log, timeoutMs, namespace, (id) => shimSocketPath(opts.address, namespace, id));
  const net = opts.network && new NetworkGlue(opts.network, opts.stateDir, log, async () => (await containers.list()).map((c) => c.id));
  const { getTask, deleteTaskQuiet } = taskOps;
  const starter = new TaskStarter({ containers, tasks, snapshots, resolver, taskOps, taskLogs, net, snapshotter, taskOptions, withLease, reached, log });
  // A spec from someone else must not hold a worker (a removal, a recreate) for days.
  let maxGraceMs = opts.maxGraceMs ?? DEFAULT_MAX_GRACE_MS;
  const stop = (id: string, signal: string, graceMs: number): Promise<void> => taskOps.stop(id, signal, Math.min(graceMs, maxGraceMs));
  const imageKeeper = new ImageKeeper(images, containers, log);
  const statsReader = new StatsReader(tasks, 5_000, timeoutMs);
  const execProbes = new ExecProbes(tasks, containers, path.join(opts.stateDir, 'probes'), log, timeoutMs);

  const logPath = (id: string): string => taskLogs.file(keyOfId(id));
  const decorate = (actual: ActualContainer): ActualContainer => (net ? net.decorate(actual) : actual);

  const pullers = createPullerSlot({ store: () => new ContainerdImageStore({ client, snapshotter, log }), log, stateDir: opts.stateDir }, opts.registry);
  const getPuller = pullers.get;

  /**
   * The name an image has in containerd: the normalised reference ("redis" is
   * docker.io/library/redis:latest), else the text as written, for images imported under a
   * name that does not normalise to itself.
   */
  async function imageName(ref: string): Promise<string> {
    let normal: string;
    try {
      normal = normalizeReference(ref);
    } catch {
      return ref;
    }
    if (normal === ref || (await unlessNotFound(images.get(normal))) !== undefined) return normal;
    return (await unlessNotFound(images.get(ref))) !== undefined ? ref : normal;
  }

  async function imageUserFiles(chainId: string): Promise<UserFiles> {
    const cached = userFiles.get(chainId);
    if (cached) return cached;
    const files = await withLease((lease) =>
      readImageUserFiles(snapshots, snapshotter, chainId, lease, (err, key) => log.warn({ err, key }, 'view snapshot not removed')),
    );
    if (userFiles.size >= USER_FILES_CACHE) userFiles.delete(userFiles.keys().next().value as string);
    userFiles.set(chainId, files);
    return files;
  }

  /** Everything that can fail on the spec's account, before anything is made. */
  async function build(desired: DesiredContainer, options: CreateOptions) {
    const id = idOf(desired.key);
    const body = desired.spec.spec;
    // autoUpdate pins: the digest the updater chose, else the one the tag names now, by a
    // record of its own, so that what the container runs is kept while it runs.
    const pinned = options.imageDigest ? pinnedReference(body.image, options.imageDigest) : undefined;
    const image = await resolver.resolve(await imageName(pinned ?? body.image));
    if (desired.resolved.autoUpdate && !pinned) image.imageName = await imageKeeper.pin(body.image, image.imageName, image.targetDigest);
    const userText = body.user ?? image.config.User ?? '';
    const user = resolveUser(userText, needsUserFiles(userText) ? await imageUserFiles(image.chainId) : {});
    const bridge = desired.resolved.network === 'bridge';
    if (bridge && !net) throw noNetwork(desired.key);
    const network = bridge ? net?.files(id) : undefined;
    const spec = buildSpec({
      id,
      containerdNamespace: namespace,
      spec: desired.spec,
      image: image.config,
      user,
      hostRlimits,
      cgroupVersion,
      cgroupsPath: cgroupsPathOf(opts.address, namespace, id),
      hostCapabilities,
      // Read at each create: devices come and go (a USB disk), and only privileged ones need them.
      hostDevices: desired.spec.spec.securityContext?.privileged === true ? readHostDevices() : undefined,
      bindSources: desired.bindSources,
      network,
    });
    const labels: Record<string, string> = {
      ...(desired.spec.metadata.labels ?? {}),
      [LABEL_MANAGED]: 'true',
      [LABEL_SPEC_HASH]: desired.hash,
      [LABEL_SOURCE]: desired.origin,
      [LABEL_RESTARTS]: String(options.restarts),
      [LABEL_KEY]: desired.key,
      [LABEL_STOP_SIGNAL]: desired.resolved.stopSignal,
      [LABEL_STOP_GRACE]: String(Math.min(desired.resolved.graceMs, maxGraceMs) / 1000),
      [LABEL_IMAGE_DIGEST]: image.targetDigest,
    };
    if (desired.resolved.autoUpdate) {
      labels[LABEL_IMAGE_REF] = body.image;
      if (options.failedDigest) labels[LABEL_FAILED_DIGEST] = options.failedDigest;
    }
    const request = networkLabel(desired);
    if (request) labels[LABEL_NETWORK] = request;
    // A published port another container holds refuses the spec here, before anything stops.
    if (bridge) net?.checkPorts(id, desired.resolved.ports);
    return { id, image, spec, labels };
  }

  const runtime: ContainerdRuntime = {
    async list() {
      leaseKeeper.retryLeaked();
      const [cs, ps] = await Promise.all([containers.list(), tasks.list()]);
      const byId = new Map(ps.map((p) => [p.id, p]));
      // converge's first listing is when the network adopts and collects (network/collect.ts).
      await net?.network.collectOnce(new Set(cs.map((c) => c.id)));
      return cs.map((c) => decorate(toActual(c, byId.get(c.id))));
    },

    async get(key) {
      const id = idOf(key);
      const c = await unlessNotFound(containers.get(id));
      if (!c) return undefined;
      return decorate(toActual(c, await getTask(id)));
    },

    async check(desired: DesiredContainer, options) {
      await build(desired, { ...options, restarts: 0 });
    },

    async create(desired: DesiredContainer, options: CreateOptions) {
      const { id, image, spec, labels } = await build(desired, options);
      // Before the container: its spec names the namespace. A crash from here on leaves an
      // attachment with no container, which the next start of converge collects.
      if (labels[LABEL_NETWORK]) await net?.network.attach(requestOf(desired, id));
      await withLease(async (lease) => {
        // AlreadyExists from either call goes up as is: the reconciler owns that cleanup.
        const rootfs = await snapshots.prepare(snapshotter, id, image.chainId, {}, { lease });
        reached('snapshot-prepared');
        try {
          await containers.create({ id, labels, image: image.imageName, runtime: runtimeName, snapshotter, snapshotKey: id, spec }, { lease });
          reached('container-created');
          starter.created(id, { labels, rootfs });
        } catch (err) {
          // Only a definite failure proves no container holds the snapshot.
          if (!isAlreadyExists(err) && isDefinite(err)) {
            await snapshots.remove(snapshotter, id).catch((e: unknown) => log.warn({ err: e, id }, 'snapshot not removed'));
            if (labels[LABEL_NETWORK]) await net?.network.detach(id).catch((e: unknown) => log.warn({ err: e, id }, 'network not detached'));
          }
          throw err;
        }
      });
      execProbes.forget(id);
      log.debug({ id, key: desired.key, image: image.imageName }, 'container created');
    },

    start: (key) => starter.start(idOf(key)),

    prepareStart: (key) => starter.prepare(idOf(key)),

    stop: (key, signal, graceMs) => stop(idOf(key), signal, graceMs),

    kill: (key, signal, graceMs) => taskOps.halt(idOf(key), signal, Math.min(graceMs, maxGraceMs)),

    probe: (desired, signal) => probeContainer(execProbes, (id) => net?.address(id), desired, signal),

    async deleteTask(key) {
      return deleteTaskQuiet(idOf(key));
    },

    async remove(key, signal, graceMs, options) {
      const id = idOf(key);
      starter.forget(id);
      await stop(id, signal, graceMs);
      reached('task-deleted');
      // The snapshot goes before the container record: a converge killed in between leaves a
      // container that the next removal finds and finishes, never a snapshot nothing names.
      const c = await unlessNotFound(containers.get(id));
      // Before the container goes: a DEL that fails leaves the container there, so the
      // removal is tried again rather than forgotten with the network still attached.
      if (net?.attached(id, c?.labels)) await net.network.detach(id);
      await unlessNotFound(snapshots.remove(c?.snapshotter || snapshotter, c?.snapshotKey || id));
      reached('snapshot-removed');
      if (c) await unlessNotFound(containers.delete(id));
      // The task's log goes with it (as docker's does), or removed names would fill the disk;
      // a recreate keeps it, so the log reads on across versions of the spec.
      if (!options?.keepLog) await taskLogs.remove(keyOfId(id));
    },

    async setRestarts(key, restarts) {
      await containers.updateLabels(idOf(key), { [LABEL_RESTARTS]: String(restarts) });
    },

    recordTermination: (key, t) => writeTermination(containers, idOf(key), t),

    events(signal: AbortSignal): AsyncIterable<RuntimeEvent> {
      return leaseKeeper.cleanAfterConnect(watchTaskEvents({ events, namespace, log, probeTimeoutMs: timeoutMs }, signal));
    },

    close() {
      client.close();
    },

    version() {
      return new VersionService(client).version();
    },

    async ensureNamespace() {
      try {
        await new NamespacesService(client).create(namespace);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    },

    async hasImage(ref) {
      return (await unlessNotFound(images.get(await imageName(ref)))) !== undefined;
    },

    pull(ref, pullOpts) {
      return getPuller().pull(ref, pullOpts);
    },

    latestDigest: (ref) => getPuller().latestDigest(ref),

    collectImages: (keep) => imageKeeper.collect(keep),

    async ensureImage(ref, policy, onProgress) {
      if (policy !== 'Always' && (await runtime.hasImage(ref))) return;
      if (policy === 'Never') throw new ImageNotPresentError(`image ${ref} is not in containerd and imagePullPolicy is Never`);
      const began = performance.now();
      const pulled = getPuller().pull(ref, { onProgress: onProgress && ((p) => onProgress({ done: p.done, total: p.total })) });
      pulled.then((r) => opts.onPull?.({ ms: r.ms, bytes: r.fetched, ok: true }), () => opts.onPull?.({ ms: performance.now() - began, bytes: 0, ok: false }));
      await pulled;
    },

    stats: () => statsReader.read(),

    logPath,

    configure(next) {
      maxGraceMs = next.maxGraceMs;
      pullers.configure(next.registry);
    },
  };
  return runtime;
}
