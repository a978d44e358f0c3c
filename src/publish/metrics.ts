// Prometheus metrics of one controller, in a registry of its own (never the global one,
// so that two controllers in one process, as in tests, do not collide).

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
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
}

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  // The event-loop delay histogram samples once a second, not at prom-client's default of
  // every 10 ms: 100 wake-ups a second were most of an idle converge's CPU (about 400 ms a
  // minute). A stall still shows in max/mean; the per-scrape lag gauge is unchanged.
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'converge_', eventLoopMonitoringPrecision: 1000 });
  return {
    registry,
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
  for (const row of rows) {
    metrics.containers.inc({ phase: row.phase });
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
    if (e.action && !e.error) metrics.actions.inc({ action: e.action });
  });
}
