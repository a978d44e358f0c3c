// The config.toml of a private containerd (converge's embedded one and the tests'): its own
// root, state, socket and opt dir, and only the plugins converge uses, so several can run
// side by side and start fast. Written in the config version the binary itself expects:
// 2 for containerd 1.6 and 1.7, 3 for 2.0 to 2.3, 4 from 2.4 on (listeners moved into
// server plugins); a 2.x reading an older version migrates it and warns on every start.

import { execFileSync } from 'node:child_process';

export interface ContainerdPaths {
  root: string;
  state: string;
  address: string;
  opt: string;
}

/**
 * Plugins converge never uses. CRI is the slow one (it also wants CNI and a sandbox image;
 * 2.x splits it into three plugins, and its pod sandbox controller fails to load without
 * them); the other snapshotters only probe the host and log errors. NRI (on by default in 2.x) listens on one socket per machine, /var/run/nri/nri.sock,
 * so two containerds would fight over it. The legacy runtime v1 must stay: containerd 1.6's
 * tasks service refuses to load without it. The native snapshotter stays, since converge's
 * snapshotter is a flag. Names a version does not have are ignored by it.
 */
export const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.cri.v1.images',
  'io.containerd.cri.v1.runtime',
  'io.containerd.nri.v1.nri',
  'io.containerd.podsandbox.controller.v1.podsandbox',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.blockfile',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.erofs',
  'io.containerd.snapshotter.v1.zfs',
] as const;

/** The config versions this writer knows. */
export const CONFIG_VERSIONS = [2, 3, 4] as const;
export type ConfigVersion = (typeof CONFIG_VERSIONS)[number];

export class ConfigVersionError extends Error {
  readonly code = 'ContainerdConfigVersion';
}

/**
 * The config version a containerd binary expects: the `version` of the default config it
 * prints (`containerd config default`, which starts nothing).
 */
export function configVersionOf(bin: string): ConfigVersion {
  let out: string;
  try {
    out = execFileSync(bin, ['config', 'default'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new ConfigVersionError(`cannot ask ${bin} for its config version: ${(err as Error).message}`, { cause: err });
  }
  const version = Number(/^version\s*=\s*(\d+)\s*$/m.exec(out)?.[1]);
  if (!(CONFIG_VERSIONS as readonly number[]).includes(version)) {
    throw new ConfigVersionError(`${bin} expects containerd config version ${version || '(none printed)'}; converge writes ${CONFIG_VERSIONS.join(', ')}`);
  }
  return version as ConfigVersion;
}

/** TOML basic strings share JSON's escapes for everything a path can hold. */
function str(s: string): string {
  return JSON.stringify(s);
}

/** Plugins a test containerd must have loaded (as `ctr plugins ls` names them, TYPE ID). */
export const REQUIRED_PLUGINS = [
  'io.containerd.grpc.v1 containers',
  'io.containerd.grpc.v1 content',
  'io.containerd.grpc.v1 diff',
  'io.containerd.grpc.v1 events',
  'io.containerd.grpc.v1 images',
  'io.containerd.grpc.v1 leases',
  'io.containerd.grpc.v1 namespaces',
  'io.containerd.grpc.v1 snapshots',
  'io.containerd.grpc.v1 tasks',
  'io.containerd.grpc.v1 version',
  'io.containerd.runtime.v2 task',
  'io.containerd.snapshotter.v1 overlayfs',
] as const;

export function containerdConfig(p: ContainerdPaths, version: ConfigVersion = 2): string {
  return [
    `version = ${version}`,
    `root = ${str(p.root)}`,
    `state = ${str(p.state)}`,
    `disabled_plugins = [${DISABLED_PLUGINS.map(str).join(', ')}]`,
    // 2.x merges /etc/containerd/conf.d/*.toml into any config that does not say otherwise.
    'imports = []',
    '',
    ...(version >= 4 ? listenersV4(p.address) : listenersV2(p.address)),
    // The default is /opt/containerd, shared by every containerd on the machine.
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${str(p.opt)}`,
    '',
  ].join('\n');
}

/**
 * Versions 2 and 3: top-level sections. An empty ttrpc address means the gRPC one plus
 * ".ttrpc" (shims send their events there); empty debug and metrics addresses switch those
 * listeners off (the debug one is shared by default).
 */
function listenersV2(address: string): string[] {
  return [
    '[grpc]',
    `  address = ${str(address)}`,
    '',
    '[ttrpc]',
    '  address = ""',
    '',
    '[debug]',
    '  address = ""',
    '  level = "info"',
    '',
    '[metrics]',
    '  address = ""',
    '',
  ];
}

/**
 * Version 4: the listeners are server plugins, each with its own default; the ttrpc one
 * would be /run/containerd/containerd.sock.ttrpc, shared by every containerd, so it is
 * set next to the gRPC socket as before. Debug and metrics are off unless given an address.
 */
function listenersV4(address: string): string[] {
  return [
    '[plugins."io.containerd.server.v1.grpc"]',
    `  address = ${str(address)}`,
    '',
    '[plugins."io.containerd.server.v1.ttrpc"]',
    `  address = ${str(address + '.ttrpc')}`,
    '',
    '[debug]',
    '  level = "info"',
    '',
  ];
}
