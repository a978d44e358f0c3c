// Shared test data for the unit tests of the reconcile loop.

import type { DesiredContainer } from '../../src/types.js';
import type { ContainerSpecBody } from '../../src/spec/types.js';

/** A desired container default/<name> with the given spec fields and hash. */
export function desired(name: string, body: Partial<ContainerSpecBody> = {}, hash = 'h1'): DesiredContainer {
  return {
    key: `default/${name}`,
    namespace: 'default',
    name,
    hash,
    origin: `dir:/specs/${name}.yaml`,
    spec: { apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name }, spec: { image: 'busybox', ...body } },
  };
}
