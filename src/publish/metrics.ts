// Prometheus metrics of one controller, in a registry of its own (never the global one,
// so that two controllers in one process, as in tests, do not collide). Node's process
// metrics carry no prefix (process_*, nodejs_*), as stock dashboards expect; converge's
// own are converge_*. What a scrape reads from elsewhere (the containers' CPU and memory,
// the queue, the sources) is read by collect functions at the scrape.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Controller } from '../reconcile/controller.js';
import type { StatusRow } from '../reconcile/status.js';

export interface Metrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  actions: Counter<'action'>;
  containers: Gauge<'phase'>;
  health: Gauge<'namespace' | 'name' | 'health'>;
  probes: Counter<'result'>;
  updates: Counter<'outcome'>;
  restarts: Gauge<'namespace' | 'name'>;
  reconcileSeconds: Histogram<'result'>;
  pullSeconds: Histogram<'result'>;
  pullBytes: Counter;
}

export function createMetrics(options: { processMetrics?: boolean; version?: string } = {}): Metrics {
  const registry = new Registry();
  // The event-loop delay histogram samples once a second, not at prom-client's default of
  // every 10 ms: 100 wake-ups a second were most of an idle converge's CPU (about 400 ms a
  // minute). A stall still shows in max/mean; the per-scrape lag gauge is unchanged.
  if (options.processMetrics) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 1000 });
  if (options.version) {
    new Gauge({ name: 'converge_build_info', help: 'Always 1; the version of converge in a label.', labelNames: ['version'], registers: [registry] }).set({ version: options.version }, 1);
  }
  return {
    registry,
    restarts: new Gauge({
      name: 'converge_container_restarts',
      help: 'Restarts of each container as its status counts them (kept across restarts of converge), as of the last scrape.',
      labelNames: ['namespace', 'name'],
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: 'converge_reconcile_duration_seconds',
      help: 'Time one reconcile of one key took (read, plan, act), by result (ok or error).',
      labelNames: ['result'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 2.5, 10, 30, 120],
      registers: [registry],
    }),
    pullSeconds: new Histogram({
      name: 'converge_image_pull_duration_seconds',
      help: 'Image pulls converge made (for creates and auto-updates), by result (ok or error).',
      labelNames: ['result'],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800],
      registers: [registry],
    }),
    pullBytes: new Counter({
      name: 'converge_image_pull_bytes_total',
      help: 'Bytes of image blobs fetched from registries (blobs already there do not count).',
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'converge_reconciles_total',
      help: 'Reconciles of one key, by result (ok or error).',
      labelNames: ['result'],
      registers: [registry],
    }),
    actions: new Counter({
      name: 'converge_actions_total',
      help: 'Actions applied to containerd, by type (create, recreate, start, restart, remove).',
      labelNames: ['action'],
      registers: [registry],
    }),
    containers: new Gauge({
      name: 'converge_containers',
      help: 'Containers by phase, as of the last scrape.',
      labelNames: ['phase'],
      registers: [registry],
    }),
    health: new Gauge({
      name: 'converge_container_health',
      help: 'Health of each running container with a health check: 1 for its current state (Starting, Healthy or Unhealthy), as of the last scrape.',
      labelNames: ['namespace', 'name', 'health'],
      registers: [registry],
    }),
    probes: new Counter({
      name: 'converge_health_probes_total',
      help: 'Health probes that counted, by result (healthy, unhealthy).',
      labelNames: ['result'],
      registers: [registry],
    }),
    updates: new Counter({
      name: 'converge_auto_updates_total',
      help: 'Finished auto-updates, by outcome (Updated, RolledBack).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}

/** The gauges read from the status rows at a scrape. */
export function observeRows(metrics: Metrics, rows: StatusRow[]): void {
  metrics.containers.reset();
  metrics.health.reset();
  metrics.restarts.reset();
  for (const row of rows) {
    metrics.containers.inc({ phase: row.phase });
    metrics.restarts.set({ namespace: row.namespace, name: row.name }, row.restarts);
    if (row.health) metrics.health.set({ namespace: row.namespace, name: row.name, health: row.health }, 1);
  }
}

/** Counts every probe that counted, from the controller's health stream. */
export function countProbes(metrics: Metrics, controller: Pick<Controller, 'onHealth'>): () => void {
  return controller.onHealth((e) => metrics.probes.inc({ result: e.after.last?.healthy ? 'healthy' : 'unhealthy' }));
}

/** Counts every reconcile and applied action from the controller's status stream. */
export function countReconciles(metrics: Metrics, controller: Pick<Controller, 'onReconcile'>): () => void {
  return controller.onReconcile((e) => {
    metrics.reconciles.inc({ result: e.error ? 'error' : 'ok' });
    if (e.ms !== undefined) metrics.reconcileSeconds.observe({ result: e.error ? 'error' : 'ok' }, e.ms / 1000);
    if (e.action && !e.error) metrics.actions.inc({ action: e.action });
  });
}

/** One image pull, as the runtime reports it. */
export function observePull(metrics: Metrics, p: { ms: number; bytes: number; ok: boolean }): void {
  metrics.pullSeconds.observe({ result: p.ok ? 'ok' : 'error' }, p.ms / 1000);
  metrics.pullBytes.inc(p.bytes);
}

/** A running container's CPU and memory, as the runtime last read them. */
export interface ContainerUsage {
  namespace: string;
  name: string;
  cpuSeconds: number;
  memoryBytes: number;
  memoryLimitBytes: number | null;
}

/** What the scrape-time metrics read. */
export interface ScrapeInputs {
  /** The running containers' CPU and memory (cached by the runtime: see StatsReader). */
  usage?: () => Promise<ContainerUsage[]>;
  queueDepth?: () => number;
  /** Each source's last complete read (epoch ms). */
  sourceSyncs?: () => ReadonlyMap<string, number>;
}

/**
 * Registers the metrics read at each scrape. A container's series are there while its task
 * runs and go with it; when the runtime cannot be read, they are left out of that scrape.
 */
export function collectAtScrape(metrics: Metrics, inputs: ScrapeInputs): void {
  const registers = [metrics.registry];
  const labelNames = ['namespace', 'name'] as const;
  const usage = async (): Promise<ContainerUsage[]> => (inputs.usage ? inputs.usage().catch(() => []) : []);
  new Counter({
    name: 'converge_container_cpu_seconds_total', help: 'CPU time the container\'s task has used, in seconds (cgroup v1 or v2).', labelNames, registers,
    async collect() {
      this.reset();
      for (const u of await usage()) this.inc({ namespace: u.namespace, name: u.name }, u.cpuSeconds);
    },
  });
  new Gauge({
    name: 'converge_container_memory_bytes', help: 'Memory the container\'s task uses, less inactive file cache (as docker stats counts it).', labelNames, registers,
    async collect() {
      this.reset();
      for (const u of await usage()) this.set({ namespace: u.namespace, name: u.name }, u.memoryBytes);
    },
  });
  new Gauge({
    name: 'converge_container_memory_limit_bytes', help: 'The memory limit of the container\'s cgroup (absent without one).', labelNames, registers,
    async collect() {
      this.reset();
      for (const u of await usage()) if (u.memoryLimitBytes !== null) this.set({ namespace: u.namespace, name: u.name }, u.memoryLimitBytes);
    },
  });
  new Gauge({
    name: 'converge_queue_depth', help: 'Keys waiting in the work queue for a worker.', registers,
    collect() {
      this.set(inputs.queueDepth?.() ?? 0);
    },
  });
  new Gauge({
    name: 'converge_source_last_sync_timestamp_seconds', help: 'When each source last read completely (unix seconds).', labelNames: ['source'], registers,
    collect() {
      this.reset();
      for (const [source, at] of inputs.sourceSyncs?.() ?? []) this.set({ source }, at / 1000);
    },
  });
}
