// A validated document becomes a DesiredContainer here, and only here: the key, the hash
// over what the user wrote, and the defaults filled in once, so no read site guesses them.

import { specHash } from './hash.js';
import { resolvePort } from './ports.js';
import { defaultPullPolicy } from './reference.js';
import { DEFAULTS, keyOf, type ContainerSpec, type DesiredContainer, type HealthCheck, type ProbeAction, type ResolvedHealthCheck, type ResolvedSpec } from './types.js';

export function resolveSpec(spec: ContainerSpec): ResolvedSpec {
  const body = spec.spec;
  const namespace = spec.metadata.namespace ?? DEFAULTS.namespace;
  return {
    restartPolicy: body.restartPolicy ?? DEFAULTS.restartPolicy,
    imagePullPolicy: body.imagePullPolicy ?? defaultPullPolicy(body.image),
    stopSignal: body.stopSignal ?? DEFAULTS.stopSignal,
    graceMs: (body.terminationGracePeriodSeconds ?? DEFAULTS.terminationGracePeriodSeconds) * 1000,
    dependsOn: (body.dependsOn ?? []).map((d) =>
      typeof d === 'string'
        ? { key: keyOf(namespace, d), condition: 'Started' as const, restart: false }
        : { key: keyOf(namespace, d.name), condition: d.condition ?? 'Started', restart: d.restart === true },
    ),
    network: body.network ?? DEFAULTS.network,
    ports: (body.ports ?? []).map(resolvePort),
    autoUpdate: body.autoUpdate === 'registry',
    ...(body.healthCheck ? { healthCheck: resolveHealthCheck(body.healthCheck) } : {}),
  };
}

function resolveHealthCheck(check: HealthCheck): ResolvedHealthCheck {
  const d = DEFAULTS.healthCheck;
  let action: ProbeAction;
  if (check.httpGet) action = { kind: 'http', port: check.httpGet.port, path: check.httpGet.path ?? d.httpPath };
  else if (check.tcpSocket) action = { kind: 'tcp', port: check.tcpSocket.port };
  else action = { kind: 'exec', command: [...(check.exec ?? [])] };
  return {
    action,
    startPeriodMs: (check.startPeriodSeconds ?? d.startPeriodSeconds) * 1000,
    periodMs: (check.periodSeconds ?? d.periodSeconds) * 1000,
    timeoutMs: (check.timeoutSeconds ?? d.timeoutSeconds) * 1000,
    failureThreshold: check.failureThreshold ?? d.failureThreshold,
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
