// TypeScript types of a Container document. They follow schemas/container.schema.json,
// which is the single source of truth (the loader validates with it).

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

export interface HealthCheck {
  exec: string[];
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
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
  network?: 'none' | 'host';
  dependsOn?: string[];
  healthCheck?: HealthCheck;
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
  network: 'none' as const,
};
