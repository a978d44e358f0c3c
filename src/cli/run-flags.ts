// The option table of `converge run`: every long flag, what a --config file may say for it
// (config.ts builds the file's JSON Schema from this table, so a flag and its key cannot
// drift), which settings a SIGHUP can change in place, and the settings the flags make.
// `converge plan` parses the same table, using the sources part of it.

import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { BackoffOptions } from '../backoff.js';
import { parseDuration } from '../duration.js';
import type { RegistrySettings } from '../containerd/runtime.js';
import { COMMON } from './common.js';
import { LISTEN_FLAGS } from './listen-flags.js';
import { LOG_FLAGS } from './log-flags.js';
import { NET_FLAGS } from './net-flags.js';
import { SOURCE_FLAGS } from './source-flags.js';
import { REGISTRY_OPTIONS, registrySettings } from './pull.js';
import { UsageError, asUsage } from './usage.js';

export const RUN_FLAGS = {
  ...COMMON,
  config: { type: 'string' },
  ...SOURCE_FLAGS,
  ...LISTEN_FLAGS,
  snapshotter: { type: 'string', default: 'overlayfs' },
  workers: { type: 'string', default: '8' },
  resync: { type: 'string', default: '60s' },
  'backoff-initial': { type: 'string', default: '100ms' },
  'backoff-max': { type: 'string', default: '5m' },
  'backoff-reset': { type: 'string', default: '10s' },
  'max-grace-period': { type: 'string', default: '5m' },
  'auto-update-interval': { type: 'string', default: '15m' },
  'auto-update-rollback-window': { type: 'string', default: '60s' },
  ...NET_FLAGS,
  ...REGISTRY_OPTIONS,
  ...LOG_FLAGS,
} as const satisfies ParseArgsConfig['options'];

export type RunFlag = keyof typeof RUN_FLAGS;

/** Flags of the command line only: a config file cannot name itself, nor ask for help. */
export const COMMAND_LINE_ONLY: readonly RunFlag[] = ['help', 'config'];

/**
 * What a config key's value looks like beyond its flag's type (string, boolean, list): the
 * schema checks it, and a relative `path` is relative to the config file's directory.
 */
export type Shape = 'duration' | 'count' | 'bytes' | 'level' | 'path';

export const CONFIG_SHAPES: Partial<Record<RunFlag, Shape>> = {
  'log-level': 'level',
  'state-dir': 'path',
  dir: 'path',
  'listen-token-file': 'path',
  'tls-cert': 'path',
  'tls-key': 'path',
  workers: 'count',
  resync: 'duration',
  'backoff-initial': 'duration',
  'backoff-max': 'duration',
  'backoff-reset': 'duration',
  'max-grace-period': 'duration',
  'auto-update-interval': 'duration',
  'auto-update-rollback-window': 'duration',
  'git-interval': 'duration',
  'git-webhook-secret-file': 'path',
  'git-verify-commits': 'path',
  kubeconfig: 'path',
  'kube-backoff-max': 'duration',
  'cni-plugin-dir': 'path',
  'registry-config': 'path',
  'max-concurrent-downloads': 'count',
  'max-manifest-size': 'bytes',
  'max-config-size': 'bytes',
  'max-layers': 'count',
  'max-image-size': 'bytes',
  'pull-timeout': 'duration',
  'min-free-disk': 'bytes',
  'pull-disk-path': 'path',
  policy: 'path',
  logger: 'path',
  'log-max-size': 'bytes',
  'log-max-files': 'count',
};

/**
 * What a SIGHUP applies in place (reload.ts). Every other setting is fixed for the life of
 * the process: a change to one is logged as needing a restart, and otherwise ignored.
 */
export const RELOADABLE: ReadonlySet<RunFlag> = new Set<RunFlag>([
  'dir', 'log-level', 'policy', 'allow-empty',
  'backoff-initial', 'backoff-max', 'backoff-reset', 'max-grace-period',
  'insecure-registry', 'registry-config', 'max-concurrent-downloads',
  'max-manifest-size', 'max-config-size', 'max-layers', 'max-image-size', 'pull-timeout', 'min-free-disk', 'pull-disk-path',
]);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function parse(args: string[]) {
  return parseArgs({ args, options: RUN_FLAGS, tokens: true });
}

export type RunValues = ReturnType<typeof parse>['values'];
/** A config file's values: flag name -> string, true/false or list (numbers already as text). */
export type ConfigValues = Partial<Record<RunFlag, string | boolean | string[]>>;

/** The flags as given, and which of them the command line named (so that they beat the config). */
export function parseRunFlags(args: string[]): { values: RunValues; given: ReadonlySet<string> } {
  const { values, tokens } = parse(args);
  return { values, given: givenOf(tokens) };
}

/** The long names of the options parseArgs's tokens name. */
export function givenOf(tokens: ReadonlyArray<{ kind: string; name?: string }>): ReadonlySet<string> {
  return new Set(tokens.flatMap((t) => (t.kind === 'option' && t.name ? [t.name] : [])));
}

/** The config's values under the flags the command line named; defaults where neither says. */
export function mergeValues<T extends object>(flags: T, given: ReadonlySet<string>, config: ConfigValues): T {
  const merged = { ...flags } as Record<string, unknown>;
  for (const [key, value] of Object.entries(config)) if (!given.has(key)) merged[key] = value;
  return merged as T;
}

/** What the flags set that a SIGHUP can change too (reload.ts compares two of these). */
export interface LiveSettings {
  dirs: string[];
  logLevel: string;
  backoff: BackoffOptions;
  maxGraceMs: number;
  registry: RegistrySettings;
}

/** The live settings of `values`; throws a UsageError naming the flag. */
export function liveSettings(values: RunValues): LiveSettings {
  return asUsage(() => {
    if (!(LOG_LEVELS as readonly string[]).includes(values['log-level'])) {
      throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got '${values['log-level']}'`);
    }
    return {
      dirs: [...new Set(values.dir.map((d) => path.resolve(d)))],
      logLevel: values['log-level'],
      backoff: {
        initialMs: parseDuration(values['backoff-initial'], '--backoff-initial'),
        maxMs: parseDuration(values['backoff-max'], '--backoff-max'),
        resetAfterMs: parseDuration(values['backoff-reset'], '--backoff-reset'),
      },
      maxGraceMs: parseDuration(values['max-grace-period'], '--max-grace-period'),
      registry: registrySettings(values),
    };
  });
}

/** The settings fixed at start; throws a UsageError naming the flag. */
export function fixedSettings(values: RunValues): { workers: number; resyncMs: number; autoUpdate: { intervalMs: number; windowMs: number } } {
  return asUsage(() => {
    const workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--workers: expected a whole number >= 1, got '${values.workers}'`);
    return {
      workers,
      resyncMs: parseDuration(values.resync, '--resync'),
      autoUpdate: {
        intervalMs: parseDuration(values['auto-update-interval'], '--auto-update-interval'),
        windowMs: parseDuration(values['auto-update-rollback-window'], '--auto-update-rollback-window'),
      },
    };
  });
}
