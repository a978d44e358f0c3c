// The config.toml of a private containerd (converge's embedded one and the tests'): its own
// root, state, socket and opt dir, and only the plugins converge uses, so several can run
// side by side and start fast.

export interface ContainerdPaths {
  root: string;
  state: string;
  address: string;
  opt: string;
}

/**
 * Plugins converge never uses. CRI is the slow one (it also wants CNI and a sandbox image);
 * the other snapshotters only probe the host and log errors. The legacy runtime v1 must stay:
 * containerd 1.6's tasks service refuses to load without it. The native snapshotter stays,
 * since converge's snapshotter is a flag.
 */
export const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
] as const;

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

export function containerdConfig(p: ContainerdPaths): string {
  return [
    'version = 2',
    `root = ${str(p.root)}`,
    `state = ${str(p.state)}`,
    `disabled_plugins = [${DISABLED_PLUGINS.map(str).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${str(p.address)}`,
    '',
    // Empty addresses switch these listeners off; the ttrpc default would otherwise be
    // derived from the gRPC socket, and the debug one is shared by default.
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
    // The default is /opt/containerd, shared by every containerd on the machine.
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${str(p.opt)}`,
    '',
  ].join('\n');
}
