// What publish/kube/ needs to know of the controller and of the runtime to write status,
// Events and finalizers back: a narrow view, so the publisher does not depend on the
// controller's internals (and tests can hand it a fake).

import type { Key } from '../../spec/types.js';
import type { Runtime } from '../../reconcile/runtime.js';
import type { Controller, ReconcileEvent } from '../../reconcile/controller.js';
import type { StatusRow } from '../../reconcile/status.js';
import type { HealthChange } from '../../reconcile/prober.js';

export interface ControllerView {
  status(): StatusRow[];
  /** The first full reconcile after start is done. */
  ready(): boolean;
  /** The origin of the spec that holds a key now ("kube:ns/name", "dir:/x.yaml"), if any. */
  holder(key: Key): string | undefined;
  /** Nothing of the key's container is left in the runtime. */
  gone(key: Key): Promise<boolean>;
  onReconcile(listener: (e: ReconcileEvent) => void): () => void;
  /** What the policy denies of the key's resource ("field: why; denied by rule"). */
  denials?(key: Key): string[];
  /** Health probes that counted (absent: no health Events). */
  onHealth?(listener: (e: HealthChange) => void): () => void;
}

export function controllerView(controller: Controller, runtime: Pick<Runtime, 'get'>): ControllerView {
  return {
    status: () => controller.status(),
    ready: () => controller.ready(),
    holder: (key) => controller.store.desired().get(key)?.origin,
    gone: async (key) => (await runtime.get(key)) === undefined,
    onReconcile: (listener) => controller.onReconcile(listener),
    denials: (key) =>
      controller.store
        .denials()
        .filter((p) => p.file === `kube:${key}`)
        .map((p) => `${p.path ? `${p.path}: ` : ''}${p.message}`),
    onHealth: (listener) => controller.onHealth(listener),
  };
}
