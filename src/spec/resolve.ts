// A validated document becomes a DesiredContainer here, and only here: the key, the hash
// over what the user wrote, and the defaults filled in once, so no read site guesses them.

import { specHash } from './hash.js';
import { resolvePort } from './ports.js';
import { defaultPullPolicy } from './reference.js';
import { DEFAULTS, keyOf, type ContainerSpec, type DesiredContainer, type ResolvedSpec } from './types.js';

export function resolveSpec(spec: ContainerSpec): ResolvedSpec {
  const body = spec.spec;
  const namespace = spec.metadata.namespace ?? DEFAULTS.namespace;
  return {
    restartPolicy: body.restartPolicy ?? DEFAULTS.restartPolicy,
    imagePullPolicy: body.imagePullPolicy ?? defaultPullPolicy(body.image),
    stopSignal: body.stopSignal ?? DEFAULTS.stopSignal,
    graceMs: (body.terminationGracePeriodSeconds ?? DEFAULTS.terminationGracePeriodSeconds) * 1000,
    dependsOn: (body.dependsOn ?? []).map((name) => keyOf(namespace, name)),
    network: body.network ?? DEFAULTS.network,
    ports: (body.ports ?? []).map(resolvePort),
  };
}

/** The desired container for a validated document read from `origin`. */
export function toDesired(spec: ContainerSpec, origin: string, revision?: string): DesiredContainer {
  const namespace = spec.metadata.namespace ?? DEFAULTS.namespace;
  const name = spec.metadata.name;
  const desired: DesiredContainer = { key: keyOf(namespace, name), namespace, name, spec, resolved: resolveSpec(spec), hash: specHash(spec), origin };
  if (revision !== undefined) desired.revision = revision;
  return desired;
}
