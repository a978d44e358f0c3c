// The `converge run` flags of the bridge network and the settings they make. Checked when
// the flags are read, so a bad subnet fails before containerd starts.

import { checkBridgeName, checkSubnet, DEFAULT_BRIDGE, DEFAULT_SUBNET } from '../network/bridge.js';
import type { NetworkSettings } from '../containerd/netglue.js';

/** Where Debian's containernetworking-plugins put the plugins, then the upstream default. */
export const DEFAULT_PLUGIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];

export const NET_FLAGS = {
  'bridge-name': { type: 'string', default: DEFAULT_BRIDGE },
  'bridge-subnet': { type: 'string', default: DEFAULT_SUBNET },
  'cni-plugin-dir': { type: 'string', multiple: true, default: [] as string[] },
} as const;

export interface NetFlagValues {
  'bridge-name'?: string;
  'bridge-subnet'?: string;
  'cni-plugin-dir'?: string[];
}

/** The bridge settings from the flags. Throws on a bad name or subnet. */
export function networkFromFlags(values: NetFlagValues): NetworkSettings {
  const dirs = values['cni-plugin-dir'] ?? [];
  return {
    bridge: checkBridgeName(values['bridge-name'] ?? DEFAULT_BRIDGE),
    subnet: checkSubnet(values['bridge-subnet'] ?? DEFAULT_SUBNET),
    pluginDirs: dirs.length > 0 ? dirs : DEFAULT_PLUGIN_DIRS,
  };
}
