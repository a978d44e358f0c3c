// Bridge containers in the containerd adapter: what a container asks of the network
// (recorded on it as a label, so that a task start, a converge restart or a reboot needs
// no spec to attach it again), the network's paths its OCI spec names, and its address
// and published ports on the actual container. The network itself is network/.

import path from 'node:path';
import type { Logger } from '../log.js';
import type { ActualContainer } from '../reconcile/runtime.js';
import { RuntimeError } from '../reconcile/runtime.js';
import { resolvePort, type PublishedPort } from '../spec/ports.js';
import type { DesiredContainer, Protocol } from '../spec/types.js';
import { PortConflictError } from '../network/errors.js';
import { BridgeNetwork, type AttachRequest, type ContainerFiles } from '../network/manager.js';
import { LABEL_NETWORK } from './labels.js';

/** How converge run sets up its bridge (flags). */
export interface NetworkSettings {
  bridge: string;
  subnet: string;
  /** Where the CNI plugin binaries are, in the order searched. */
  pluginDirs: string[];
  /** Deadline of one plugin run. */
  timeoutMs?: number;
}

/** What a bridge container asks for, as the label keeps it: "127.0.0.1:18080:8080/TCP" per port. */
interface LabelValue {
  ports: string[];
  hostnames: string[];
}

function portText(p: PublishedPort): string {
  return `${p.hostIP ? `${p.hostIP}:` : ''}${p.hostPort}:${p.containerPort}/${p.protocol}`;
}

function parsePort(text: string): PublishedPort | undefined {
  const m = /^(?:(\d+\.\d+\.\d+\.\d+):)?(\d+):(\d+)\/(TCP|UDP)$/.exec(text);
  return m ? resolvePort({ hostIP: m[1], hostPort: Number(m[2]), containerPort: Number(m[3]), protocol: m[4] as Protocol }) : undefined;
}

/** The label value of a bridge container's request; absent for other networks. */
export function networkLabel(desired: DesiredContainer): string | undefined {
  if (desired.resolved.network !== 'bridge') return undefined;
  const value: LabelValue = { ports: desired.resolved.ports.map(portText), hostnames: hostnamesOf(desired) };
  return JSON.stringify(value);
}

function hostnamesOf(desired: DesiredContainer): string[] {
  const hostname = desired.spec.spec.hostname;
  return hostname && hostname !== desired.name ? [hostname] : [];
}

export function requestOf(desired: DesiredContainer, containerId: string): AttachRequest {
  return { containerId, key: desired.key, hostnames: hostnamesOf(desired), ports: desired.resolved.ports };
}

/** The request a container's label records; undefined when it is not a bridge container (or the label is not ours). */
export function requestFromLabel(labels: Record<string, string>, containerId: string, key: string): AttachRequest | undefined {
  const text = labels[LABEL_NETWORK];
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as LabelValue;
    const ports = value.ports.map(parsePort);
    if (ports.some((p) => p === undefined) || !value.hostnames.every((h) => typeof h === 'string')) return undefined;
    return { containerId, key, hostnames: value.hostnames, ports: ports as PublishedPort[] };
  } catch {
    return undefined;
  }
}

/** The adapter's side of the bridge: one BridgeNetwork, made when converge run configures one. */
export class NetworkGlue {
  readonly network: BridgeNetwork;

  constructor(settings: NetworkSettings, stateDir: string, log: Logger, listIds: () => Promise<string[]>) {
    this.network = new BridgeNetwork({
      dir: path.join(stateDir, 'network'),
      bridge: settings.bridge,
      subnet: settings.subnet,
      pluginDirs: settings.pluginDirs,
      timeoutMs: settings.timeoutMs,
      log,
      listLive: async () => new Set(await listIds()),
    });
  }

  files(containerId: string): ContainerFiles {
    return this.network.files(containerId);
  }

  /** Refuses ports another container holds, before anything is made or stopped. */
  checkPorts(containerId: string, ports: readonly PublishedPort[]): void {
    const held = this.network.conflict(containerId, ports);
    if (held) throw new PortConflictError(held);
  }

  /** The address and published ports of an attached container, on its actual record. */
  decorate(actual: ActualContainer): ActualContainer {
    const info = this.network.info(actual.id);
    if (info) actual.network = { ...(info.ip ? { ip: info.ip } : {}), ports: info.ports };
    return actual;
  }

  /** The container's address on the bridge, once attached (what probes reach). */
  address(containerId: string): string | undefined {
    return this.network.info(containerId)?.ip;
  }

  /** Whether the container has (or may have) an attachment to undo. */
  attached(containerId: string, labels: Record<string, string> | undefined): boolean {
    return labels?.[LABEL_NETWORK] !== undefined || this.network.info(containerId) !== undefined;
  }
}

/** The error of a bridge container on a runtime without a network (converge plan, status). */
export function noNetwork(key: string): RuntimeError {
  return new RuntimeError('FailedPrecondition', `${key} asks for network: bridge, and this runtime has no network configured`);
}
