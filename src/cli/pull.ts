// `converge pull IMAGE`: pulls an image into containerd by hand, the way `run` does before
// it creates a container (the same resolver, content writes, unpack and image record).
// Also the registry flags that `run` shares.

import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COMMON } from './common.js';
import { PULL_LIMIT_FLAGS, type PullLimitValues, pullLimitsFromFlags } from './pull-limits.js';
import { resolveAddress } from '../embedded/address.js';
import { createLogger } from '../log.js';
import { createContainerdRuntime, type RegistrySettings } from '../containerd/runtime.js';
import { InvalidReferenceError, PullError } from '../pull/errors.js';
import { parsePlatform } from '../pull/platform.js';
import { formatSize } from '../pull/progress.js';
import { pullMessage } from '../reconcile/status.js';

export const REGISTRY_OPTIONS = {
  'insecure-registry': { type: 'string', multiple: true, default: [] },
  'registry-config': { type: 'string' },
  'max-concurrent-downloads': { type: 'string', default: '3' },
  ...PULL_LIMIT_FLAGS,
} as const satisfies ParseArgsConfig['options'];

type RegistryValues = PullLimitValues & { 'insecure-registry': string[]; 'registry-config'?: string; 'max-concurrent-downloads': string };

export function registrySettings(values: RegistryValues): RegistrySettings {
  const concurrency = Number(values['max-concurrent-downloads']);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`--max-concurrent-downloads: expected a whole number >= 1, got '${values['max-concurrent-downloads']}'`);
  }
  for (const host of values['insecure-registry']) {
    if (!/^[A-Za-z0-9.[\]:-]+$/.test(host)) throw new Error(`--insecure-registry: expected HOST[:PORT], got '${host}'`);
  }
  return {
    insecure: values['insecure-registry'],
    configPath: values['registry-config'] ? path.resolve(values['registry-config']) : undefined,
    concurrency,
    ...pullLimitsFromFlags(values),
  };
}

const USAGE = `usage: converge pull IMAGE [--platform os/arch[/variant]] [--insecure-registry HOST:PORT]...
                    [--registry-config PATH] [--snapshotter overlayfs] [--namespace converge]
                    [--containerd-address SOCK] [-q]
                    [--max-manifest-size 4Mi] [--max-config-size 8Mi] [--max-layers 128]
                    [--max-image-size 16Gi] [--pull-timeout 30m] [--min-free-disk 1Gi]
                    [--pull-disk-path PATH (default: the state dir)]
`;

export async function pullCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...COMMON,
      ...REGISTRY_OPTIONS,
      platform: { type: 'string' },
      snapshotter: { type: 'string', default: 'overlayfs' },
      quiet: { type: 'boolean', short: 'q' },
    },
  });
  if (values.help || positionals.length !== 1) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    return values.help ? 0 : 2;
  }
  const [image] = positionals;
  const platform = values.platform ? parsePlatform(values.platform) : undefined;
  const registry = registrySettings(values);
  const stateDir = path.resolve(values['state-dir']);
  const log = createLogger({ level: values['log-level'] === 'info' ? 'warn' : values['log-level'] });
  const { address } = await resolveAddress(values['containerd-address'], stateDir);
  const runtime = createContainerdRuntime({ address, namespace: values.namespace, stateDir, snapshotter: values.snapshotter, log, registry });
  let lastLine = 0;
  try {
    const result = await runtime.pull(image, {
      platform,
      onProgress: (p) => {
        if (values.quiet || p.total === 0 || Date.now() - lastLine < 1000) return;
        lastLine = Date.now();
        process.stderr.write(`${pullMessage(p)}\n`);
      },
    });
    process.stdout.write(`pulled ${result.name} ${result.digest} (${formatSize(result.size)}, ${formatSize(result.fetched)} fetched, ${result.ms} ms)\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof PullError || err instanceof InvalidReferenceError)) throw err;
    process.stderr.write(`converge pull: ${err.code}: ${err.message}\n`);
    return 1;
  } finally {
    runtime.close();
    log.flush?.();
  }
}
