// The network's failures as typed errors with stable codes. A CNI plugin reports failure
// as {code, msg, details} on stdout with a non-zero exit; the spec's well-known codes
// (1-11) become codes of their own here, so callers branch on a name, never on a number
// or on the plugin's message.

import { ConvergeError } from '../errors.js';

export type CniErrorCode =
  /** 1: the plugin does not speak the config's cniVersion. */
  | 'CniIncompatibleVersion'
  /** 2: a field of the network config is not supported. */
  | 'CniUnsupportedField'
  /** 3: the container is unknown or does not exist. */
  | 'CniUnknownContainer'
  /** 4: a CNI_* environment variable is missing or wrong. */
  | 'CniInvalidEnvironment'
  /** 5: an I/O failure (e.g. reading the config from stdin). */
  | 'CniIoFailure'
  /** 6: the config or the prevResult did not decode. */
  | 'CniDecodeFailure'
  /** 7: the network config is invalid. */
  | 'CniInvalidNetworkConfig'
  /** 11: a transient condition; try again later. */
  | 'CniTryAgainLater'
  /** Any other code (100+ and the catch-all 999): the plugin's own failure. */
  | 'CniPluginFailed'
  /** The plugin binary is not in the plugin directory. */
  | 'CniPluginNotFound'
  /** The plugin did not finish within its deadline (it was killed). */
  | 'CniTimeout'
  /** The plugin exited without a result we can read. */
  | 'CniBadOutput';

const BY_NUMBER: Record<number, CniErrorCode> = {
  1: 'CniIncompatibleVersion',
  2: 'CniUnsupportedField',
  3: 'CniUnknownContainer',
  4: 'CniInvalidEnvironment',
  5: 'CniIoFailure',
  6: 'CniDecodeFailure',
  7: 'CniInvalidNetworkConfig',
  11: 'CniTryAgainLater',
};

export class CniError extends ConvergeError {
  declare readonly code: CniErrorCode;
  /** The plugin that failed and the command it ran, e.g. "portmap ADD". */
  readonly plugin: string;
  /** The number the plugin reported, when it reported one. */
  readonly cniCode?: number;
  readonly details?: string;

  constructor(code: CniErrorCode, message: string, opts: { plugin: string; cniCode?: number; details?: string; cause?: unknown }) {
    super(code, message, { cause: opts.cause });
    this.plugin = opts.plugin;
    if (opts.cniCode !== undefined) this.cniCode = opts.cniCode;
    if (opts.details) this.details = opts.details;
  }
}

/** The typed error for a plugin's error object {code, msg, details}. */
export function fromPluginError(plugin: string, body: { code?: unknown; msg?: unknown; details?: unknown }): CniError {
  const number = typeof body.code === 'number' ? body.code : undefined;
  const code = (number !== undefined && BY_NUMBER[number]) || 'CniPluginFailed';
  const msg = typeof body.msg === 'string' && body.msg ? body.msg : 'failed without a message';
  const details = typeof body.details === 'string' ? body.details : undefined;
  return new CniError(code, `${plugin}: ${msg}${details ? ` (${details})` : ''}`, { plugin, cniCode: number, details });
}

/** A published host port that another container holds already. */
export class PortConflictError extends ConvergeError {
  constructor(message: string) {
    super('PortConflict', message);
  }
}

/** Something of the host the network needs (a plugin dir, unshare, a netns) is not there or not usable. */
export class NetworkSetupError extends ConvergeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NetworkSetup', message, options);
  }
}
