// A network configuration list run as the CNI spec says (section "Network configuration
// lists"): ADD runs the plugins in order, each given the result of the one before as
// prevResult, and the last result is the attachment's; DEL runs them in reverse order,
// each given the cached result of the ADD (the firewall plugin only knows which rules to
// remove from it); CHECK runs them in order with that same cached result. Runtime
// arguments (port mappings) reach only the plugins that declare the capability.

import type { CniCommand, PluginExec } from './plugin.js';
import { CniError } from './errors.js';

export interface PluginConf {
  type: string;
  /** Capabilities the plugin accepts runtime arguments for, e.g. {portMappings: true}. */
  capabilities?: Record<string, boolean>;
  [field: string]: unknown;
}

export interface NetworkList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
}

/** One attachment of a container to a network (the CNI spec's (container, network, interface)). */
export interface Attachment {
  containerId: string;
  netns: string;
  ifName: string;
  /** Runtime arguments by capability name, e.g. {portMappings: [...]}. */
  capabilityArgs?: Record<string, unknown>;
}

/** The parts of a CNI 1.0 result converge reads; the rest is kept as it came. */
export interface CniResult {
  cniVersion?: string;
  interfaces?: Array<{ name: string; mac?: string; sandbox?: string }>;
  ips?: Array<{ interface?: number; address: string; gateway?: string }>;
  [field: string]: unknown;
}

/** The stdin of one plugin of the list. */
export function pluginConfig(list: NetworkList, plugin: PluginConf, at: Attachment, prevResult?: CniResult): Record<string, unknown> {
  const { capabilities, ...rest } = plugin;
  const config: Record<string, unknown> = { ...rest, cniVersion: list.cniVersion, name: list.name };
  if (capabilities) config.capabilities = capabilities;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(capabilities ?? {})) {
    if (on && at.capabilityArgs?.[cap] !== undefined) runtimeConfig[cap] = at.capabilityArgs[cap];
  }
  if (Object.keys(runtimeConfig).length > 0) config.runtimeConfig = runtimeConfig;
  if (prevResult) config.prevResult = prevResult;
  return config;
}

function call(exec: PluginExec, command: CniCommand, list: NetworkList, plugin: PluginConf, at: Attachment, prev?: CniResult): Promise<unknown> {
  return exec(plugin.type, {
    command,
    containerId: at.containerId,
    netns: at.netns,
    ifName: at.ifName,
    config: pluginConfig(list, plugin, at, prev),
  });
}

function asResult(plugin: string, value: unknown): CniResult {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new CniError('CniBadOutput', `${plugin} ADD printed no result`, { plugin: `${plugin} ADD` });
  }
  return value as CniResult;
}

/**
 * ADD: in order, each plugin given the result so far. Resolves with the attachment's
 * result; `progress` hears each plugin's, so that a failure half-way can be undone with
 * what the plugins that did run reported.
 */
export async function addNetworkList(exec: PluginExec, list: NetworkList, at: Attachment, progress?: (r: CniResult) => void): Promise<CniResult> {
  let result: CniResult | undefined;
  for (const plugin of list.plugins) {
    result = asResult(plugin.type, await call(exec, 'ADD', list, plugin, at, result));
    progress?.(result);
  }
  if (!result) throw new CniError('CniInvalidNetworkConfig', `network ${list.name} has no plugins`, { plugin: list.name });
  return result;
}

/**
 * DEL: in reverse order, each plugin given the cached result of the ADD (when there is
 * one). Every plugin gets its DEL even when one before it failed, so that one stuck
 * plugin does not leave the others' state behind; the first failure is thrown after.
 */
export async function delNetworkList(exec: PluginExec, list: NetworkList, at: Attachment, cached?: CniResult): Promise<void> {
  let first: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await call(exec, 'DEL', list, plugin, at, cached);
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

/**
 * CHECK: in order, each plugin given the cached result; the first failure is thrown.
 * Plugins whose type is in `skip` are not asked (see CHECK_UNRELIABLE in bridge.ts).
 */
export async function checkNetworkList(exec: PluginExec, list: NetworkList, at: Attachment, cached: CniResult, skip: ReadonlySet<string> = new Set()): Promise<void> {
  for (const plugin of list.plugins) if (!skip.has(plugin.type)) await call(exec, 'CHECK', list, plugin, at, cached);
}

/**
 * Plugins of the list that cannot speak its cniVersion (their VERSION answer does not list
 * it): the one check a runtime makes before trusting a plugin with an attachment.
 */
export async function unsupportedPlugins(exec: PluginExec, list: NetworkList): Promise<string[]> {
  const out: string[] = [];
  for (const type of new Set(list.plugins.map((p) => p.type))) {
    const answer = (await exec(type, { command: 'VERSION', containerId: '', netns: '', ifName: '', config: { cniVersion: list.cniVersion } })) as
      | { supportedVersions?: unknown }
      | undefined;
    const versions = Array.isArray(answer?.supportedVersions) ? answer.supportedVersions : [];
    if (!versions.includes(list.cniVersion)) out.push(`${type} (speaks ${versions.join(', ') || 'nothing'})`);
  }
  return out;
}

/** The container's IPv4 address in a result: the first address on an interface inside the sandbox. */
export function containerIp(result: CniResult | undefined): string | undefined {
  const ips = result?.ips ?? [];
  const inSandbox = (i: number | undefined): boolean => i !== undefined && Boolean(result?.interfaces?.[i]?.sandbox);
  const chosen = ips.find((ip) => inSandbox(ip.interface) && !ip.address.includes(':')) ?? ips.find((ip) => !ip.address.includes(':'));
  return chosen?.address.split('/')[0];
}
