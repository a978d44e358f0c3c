// The task log flags of `run`: the log driver binary and how much log a container keeps
// (--log-max-size per file times --log-max-files files; 10Mi x 5 = 50 MiB by default).

import type { ParseArgsConfig } from 'node:util';
import { DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE, LOG_LINE_MAX, findLogger, type LogSettings } from '../logs/driver.js';
import { parseBytes } from '../spec/quantity.js';

export const LOG_FLAGS = {
  logger: { type: 'string' },
  'log-max-size': { type: 'string', default: `${DEFAULT_LOG_MAX_SIZE / 1024 / 1024}Mi` },
  'log-max-files': { type: 'string', default: String(DEFAULT_LOG_MAX_FILES) },
} as const satisfies ParseArgsConfig['options'];

export interface LogFlagValues {
  logger?: string;
  'log-max-size': string;
  'log-max-files': string;
}

/** The settings of the flags, with the logger binary found. Throws on a bad flag or a missing logger. */
export async function logsFromFlags(values: LogFlagValues): Promise<LogSettings> {
  let maxSize: number;
  try {
    maxSize = parseBytes(values['log-max-size']);
  } catch (err) {
    throw new Error(`--log-max-size: ${(err as Error).message}`, { cause: err });
  }
  // A file holds at least one whole record of the longest line part.
  if (!Number.isSafeInteger(maxSize) || maxSize < 2 * LOG_LINE_MAX) {
    throw new Error(`--log-max-size: must be at least ${(2 * LOG_LINE_MAX) / 1024}Ki, got '${values['log-max-size']}'`);
  }
  const maxFiles = Number(values['log-max-files']);
  if (!Number.isInteger(maxFiles) || maxFiles < 1 || maxFiles > 1000) {
    throw new Error(`--log-max-files: expected a whole number from 1 to 1000, got '${values['log-max-files']}'`);
  }
  return { logger: await findLogger(values.logger), maxSize, maxFiles };
}
