// Prometheus metrics of one controller, in a registry of its own (never the global one,
// so that two controllers in one process, as in tests, do not collide).

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Controller } from '../reconcile/controller.js';

export interface Metrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  actions: Counter<'action'>;
  containers: Gauge<'phase'>;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'converge_' });
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
  };
}

/** Counts every reconcile and applied action from the controller's status stream. */
export function countReconciles(metrics: Metrics, controller: Pick<Controller, 'onReconcile'>): () => void {
  return controller.onReconcile((e) => {
    metrics.reconciles.inc({ result: e.error ? 'error' : 'ok' });
    if (e.action && !e.error) metrics.actions.inc({ action: e.action });
  });
}
