// converge's one bridge network as CNI network configuration lists (pure): loopback on its
// own, as CRI runtimes do, then bridge (host-local IPAM under the state dir) -> portmap ->
// firewall. The flags that shape it (bridge name, subnet) are checked here too.

import type { PublishedPort } from '../spec/ports.js';
import type { NetworkList } from './conflist.js';
import { NetworkSetupError } from './errors.js';

/** The CNI spec version converge speaks; Debian 12's plugins (1.1.1) speak it. */
export const CNI_VERSION = '1.0.0';

export const DEFAULT_BRIDGE = 'converge0';
/**
 * Out of the way of docker (172.17.0.0/16 and the 172.18-31 and 192.168 pools of its user
 * networks), podman (10.88.0.0/16, and 10.89.x.0/24 upwards for its own networks),
 * Kubernetes' usual pod and service ranges (10.42, 10.43, 10.244, 10.96/12) and the
 * RFC 1918 blocks home routers hand out.
 */
export const DEFAULT_SUBNET = '10.213.0.0/16';

/** The interface name inside the container. */
export const CONTAINER_IFNAME = 'eth0';

/** loopback runs as a network of its own on "lo": runc brings lo up only in a netns it made itself. */
export const LOOPBACK_LIST: NetworkList = { cniVersion: CNI_VERSION, name: 'cni-loopback', plugins: [{ type: 'loopback' }] };

export interface BridgeConfig {
  /** Linux interface name of the bridge; also the CNI network name. */
  bridge: string;
  /** IPv4 CIDR the containers' addresses come from (the bridge takes the first). */
  subnet: string;
  /** host-local's dataDir: where the address allocations live. */
  ipamDir: string;
}

export function bridgeList(c: BridgeConfig): NetworkList {
  return {
    cniVersion: CNI_VERSION,
    name: c.bridge,
    plugins: [
      {
        type: 'bridge',
        bridge: c.bridge,
        // The bridge is the containers' gateway, and their traffic leaves the host masqueraded.
        isGateway: true,
        ipMasq: true,
        // A container reaching its own published port through the host comes back to itself.
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: c.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: c.ipamDir },
      },
      // snat: connections from the host's own 127.0.0.1 to a published port are masqueraded,
      // and the plugin sets route_localnet on the bridge so that they may cross it.
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
      // Accepts the containers' forwarded traffic even where the FORWARD policy drops.
      { type: 'firewall', backend: 'iptables' },
    ],
  };
}

/**
 * Plugins whose CHECK cannot be trusted on this list. portmap up to 1.2 (Debian 12 ships
 * 1.1.1) looks for ip6tables rules on every CHECK where ip6tables works, and an IPv4-only
 * attachment never has any, so its CHECK fails on a healthy attachment
 * (containernetworking/plugins#819). Its rules are still checked indirectly: bridge and
 * firewall CHECK the interface, the address and the forwarding rules.
 */
export const CHECK_UNRELIABLE: ReadonlySet<string> = new Set(['portmap']);

/** The runtime argument of the portMappings capability. */
export function portMappings(ports: readonly PublishedPort[]): Array<Record<string, unknown>> {
  return ports.map((p) => {
    const m: Record<string, unknown> = { hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol.toLowerCase() };
    if (p.hostIP) m.hostIP = p.hostIP;
    return m;
  });
}

/** A Linux interface name: 1-15 characters, no "/", ":" or whitespace. */
export function checkBridgeName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(name)) {
    throw new NetworkSetupError(`--bridge-name ${JSON.stringify(name)}: expected an interface name of 1-15 letters, digits, "_", "." or "-"`);
  }
  return name;
}

/** An IPv4 CIDR with room for the gateway and at least a few containers, in canonical form. */
export function checkSubnet(cidr: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : NaN;
  if (!m || octets.some((o) => o > 255) || prefix < 8 || prefix > 28) {
    throw new NetworkSetupError(`--bridge-subnet ${JSON.stringify(cidr)}: expected an IPv4 network such as ${DEFAULT_SUBNET}, prefix /8 to /28`);
  }
  const address = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  const base = address - (address % size);
  const text = [24, 16, 8, 0].map((shift) => Math.floor(base / 2 ** shift) % 256).join('.');
  return `${text}/${prefix}`;
}
