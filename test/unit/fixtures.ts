// Shared test data for the unit tests of the reconcile loop.

import { toDesired } from '../../src/spec/resolve.js';
import type { ContainerSpecBody, DesiredContainer } from '../../src/spec/types.js';

/** A desired container <namespace>/<name> with the given spec fields and hash. */
export function desired(name: string, body: Partial<ContainerSpecBody> = {}, hash = 'h1', origin = `dir:/specs/${name}.yaml`, namespace?: string): DesiredContainer {
  const metadata = namespace === undefined ? { name } : { name, namespace };
  const spec = { apiVersion: 'converge.dev/v1alpha1' as const, kind: 'Container' as const, metadata, spec: { image: 'busybox', ...body } };
  return { ...toDesired(spec, origin), hash };
}
