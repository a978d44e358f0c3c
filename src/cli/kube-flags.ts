// The `converge run` flags of the Kubernetes source and what they build: the source (it
// reads) and its publisher (it writes status, finalizers and Events back), sharing one API
// client. run.ts only spreads the flags, pushes the source and publishes once the
// controller exists.

import os from 'node:os';
import type { Logger } from 'pino';
import type { Controller } from '../reconcile/controller.js';
import type { Runtime } from '../reconcile/runtime.js';
import { parseDuration } from '../duration.js';
import type { KubeSource } from '../sources/kube/source.js';
import type { KubePublisher } from '../publish/kube/publisher.js';

export const KUBE_FLAGS = {
  kube: { type: 'boolean', default: false },
  kubeconfig: { type: 'string' },
  'node-name': { type: 'string' },
  'watch-namespace': { type: 'string' },
  'kube-backoff-max': { type: 'string', default: '30s' },
} as const;

export interface KubeFlagValues {
  kube?: boolean;
  kubeconfig?: string;
  'node-name'?: string;
  'watch-namespace'?: string;
  'kube-backoff-max'?: string;
}

export interface KubeSetup {
  source: KubeSource;
  /** Starts writing status, Events and finalizers back for the controller's reconciles (call once it exists). */
  publish(controller: Controller, runtime: Pick<Runtime, 'get'>): KubePublisher;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * The Kubernetes source from the flags, or undefined without --kube. Throws on a bad flag.
 * The Kubernetes client is imported only with --kube: it costs every other run about half
 * a second of start-up and 60 MiB.
 */
export async function kubeFromFlags(values: KubeFlagValues, deps: { log: Logger }): Promise<KubeSetup | undefined> {
  if (!values.kube) {
    const stray = (['kubeconfig', 'node-name', 'watch-namespace'] as const).find((f) => values[f] !== undefined);
    if (stray) throw new Error(`--${stray} needs --kube`);
    return undefined;
  }
  // Node names are lowercase DNS subdomains; a hostname may not be (upper case, say).
  const nodeName = values['node-name'] ?? os.hostname().toLowerCase();
  if (!DNS_SUBDOMAIN.test(nodeName) || nodeName.length > 253) throw new Error(`--node-name: '${nodeName}' is not a DNS-1123 subdomain`);
  const maxMs = parseDuration(values['kube-backoff-max'] ?? '30s', '--kube-backoff-max');
  const [{ createKubeClient }, { createKubeSource }, { createKubePublisher }, { controllerView }] = await Promise.all([
    import('../sources/kube/client.js'),
    import('../sources/kube/source.js'),
    import('../publish/kube/publisher.js'),
    import('../publish/kube/view.js'),
  ]);
  const client = createKubeClient({ kubeconfig: values.kubeconfig, userAgent: `converge/${nodeName}` });
  const backoff = { initialMs: Math.min(200, maxMs), maxMs };
  const source = createKubeSource({ client, log: deps.log, nodeName, namespace: values['watch-namespace'], backoff });
  return {
    source,
    publish: (controller, runtime) =>
      createKubePublisher({ client, resources: source, view: controllerView(controller, runtime), log: deps.log, nodeName, backoff }),
  };
}
