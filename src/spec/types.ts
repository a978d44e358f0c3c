// TypeScript types of a Container document. They follow schemas/container.schema.json,
// which is the single source of truth (the loader validates with it).

import type { PublishedPort } from './ports.js';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';
export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export interface EnvVar {
  name: string;
  value?: string;
}

export interface BindMount {
  type: 'bind';
  source: string;
  target: string;
  readOnly?: boolean;
}

export interface TmpfsMount {
  type: 'tmpfs';
  target: string;
  /** Quantity, e.g. "16Mi". */
  sizeLimit?: string;
  readOnly?: boolean;
}

export type Mount = BindMount | TmpfsMount;

export type Protocol = 'TCP' | 'UDP';

/** A container port published on the host (network: bridge only). */
export interface PortSpec {
  containerPort: number;
  hostPort: number;
  /** Default TCP. */
  protocol?: Protocol;
  /** Default every address of the host. */
  hostIP?: string;
}

export type NetworkMode = 'none' | 'host' | 'bridge';

/** Started: its task runs; Healthy: its health check passes; Completed: it exited 0. */
export type DependencyCondition = 'Started' | 'Healthy' | 'Completed';

/** One entry of dependsOn with its default applied. */
export interface Dependency {
  /** The dependency's key (same metadata.namespace). */
  key: Key;
  condition: DependencyCondition;
  /** Restart this container when the dependency gets a new task (docker compose's restart: true). */
  restart: boolean;
}

/** Exactly one of exec, httpGet, tcpSocket (the schema's oneOf). */
export interface HealthCheck {
  exec?: string[];
  httpGet?: { port: number; path?: string };
  tcpSocket?: { port: number };
  startPeriodSeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}

/** A health check with its defaults applied: what the prober runs. */
export type ProbeAction = { kind: 'exec'; command: string[] } | { kind: 'http'; port: number; path: string } | { kind: 'tcp'; port: number };

export interface ResolvedHealthCheck {
  action: ProbeAction;
  startPeriodMs: number;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
}

export interface Resources {
  limits?: {
    /** Quantity, e.g. "64Mi", "1G", "1048576". */
    memory?: string;
    /** Quantity of CPUs, e.g. "500m", "1.5", 2. */
    cpu?: string | number;
    pids?: number;
  };
}

/** What the container may do on the host; checked against the source's policy level. */
export interface SecurityContext {
  /** Every capability, no seccomp filter, no noNewPrivileges, all devices: the host's root. */
  privileged?: boolean;
  /** Names with or without CAP_ ("NET_ADMIN", "CAP_NET_ADMIN"), or ALL. */
  capabilities?: { add?: string[]; drop?: string[] };
  readOnlyRootFilesystem?: boolean;
  /** Refuse to start when the user resolves to uid 0. */
  runAsNonRoot?: boolean;
}

export interface ContainerSpecBody {
  image: string;
  imagePullPolicy?: PullPolicy;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  workingDir?: string;
  user?: string;
  hostname?: string;
  restartPolicy?: RestartPolicy;
  stopSignal?: string;
  terminationGracePeriodSeconds?: number;
  resources?: Resources;
  mounts?: Mount[];
  network?: NetworkMode;
  ports?: PortSpec[];
  dependsOn?: Array<string | { name: string; condition?: DependencyCondition; restart?: boolean }>;
  healthCheck?: HealthCheck;
  securityContext?: SecurityContext;
  autoUpdate?: 'none' | 'registry';
  nodeName?: string;
}

export interface ContainerSpec {
  apiVersion: 'converge.dev/v1alpha1';
  kind: 'Container';
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
  };
  spec: ContainerSpecBody;
}

/** The OCI image config fields that the runtime spec is built from. */
export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  StopSignal?: string;
}

export const DEFAULTS = {
  namespace: 'default',
  restartPolicy: 'Always' as RestartPolicy,
  stopSignal: 'SIGTERM',
  terminationGracePeriodSeconds: 10,
  network: 'none' as NetworkMode,
  healthCheck: { startPeriodSeconds: 0, periodSeconds: 10, timeoutSeconds: 1, failureThreshold: 3, httpPath: '/' },
};

/** "namespace/name" of a spec. */
export type Key = string;

export function keyOf(namespace: string, name: string): Key {
  return `${namespace}/${name}`;
}

/** The spec with every default filled in, once, when it is loaded; read sites use this. */
export interface ResolvedSpec {
  restartPolicy: RestartPolicy;
  imagePullPolicy: PullPolicy;
  stopSignal: string;
  /** terminationGracePeriodSeconds in ms. */
  graceMs: number;
  /** What this container waits for (same metadata.namespace); a bare name is Started. */
  dependsOn: Dependency[];
  network: NetworkMode;
  /** spec.ports with protocol and hostIP filled in; empty unless network is bridge. */
  ports: PublishedPort[];
  /** Absent when the spec has no healthCheck. */
  healthCheck?: ResolvedHealthCheck;
  /** Whether converge follows the image tag's digest at its registry. */
  autoUpdate: boolean;
}

/** One container as a source declares it. */
export interface DesiredContainer {
  key: Key;
  namespace: string;
  name: string;
  /** The document as the user wrote it (validated; no defaults filled in). */
  spec: ContainerSpec;
  /** The same with defaults applied (see resolveSpec in spec/load.ts). */
  resolved: ResolvedSpec;
  /** sha256 (hex) of the canonical spec; see spec/hash.ts. */
  hash: string;
  /** Where it came from, e.g. "dir:/etc/converge/web.yaml"; becomes the source label. */
  origin: string;
  /** The source revision it was read at (the Git commit), for sources that have revisions. */
  revision?: string;
  /**
   * Bind mount sources as the policy checked them (index of spec.mounts -> the real path,
   * symlinks resolved), so that what was allowed is what gets mounted. Set when admitted.
   */
  bindSources?: Array<string | undefined>;
}

/** Something wrong with the input: never an exception, always data. */
export interface Problem {
  /** The file (or resource, or revision) the problem is in. */
  file: string;
  /** 0-based index of the YAML document in a multi-document file, when known. */
  document?: number;
  /** 1-based line, when known. */
  line?: number;
  /** Field path, e.g. "spec.resources.limits.memory"; "" for the document itself. */
  path: string;
  /** What was expected, e.g. "must be one of Always, OnFailure, Never". */
  message: string;
  /** The key involved, when the document got as far as naming one (e.g. a conflict). */
  key?: Key;
}

/**
 * The full desired state of one source at one moment (level-based, never a delta).
 * `complete` is false when the source could not be read (directory missing, API down):
 * then its specs are the last good ones and nothing it owned may be removed.
 */
export interface Snapshot {
  source: string;
  specs: DesiredContainer[];
  problems: Problem[];
  complete: boolean;
  /**
   * The read found nothing at all (default: no specs). A source says false when it holds
   * things that are no specs on purpose: Kubernetes resources being deleted, whose removal
   * must go ahead even when they are the last ones.
   */
  empty?: boolean;
}
