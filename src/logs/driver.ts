// The task log driver: converge-logger (logger/, Go), which containerd's runc shim starts
// for each task through a "binary://" stdio URI. It lives with the task and writes the
// CRI log files itself, so that a converge that is stopped or slow never holds a
// container's output back, which a FIFO read by converge would.
//
// The shim runs the binary by the path in the URI, in the host's file system: converge
// copies its binary into <state dir>/bin/ (a host path even when converge runs in a pod),
// so that the path it hands containerd is one the shim can run.

import { constants } from 'node:fs';
import { access, chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConvergeError } from '../errors.js';
import { logFileOf, removeLogFiles } from './files.js';

export const DEFAULT_LOG_MAX_SIZE = 10 * 1024 * 1024;
export const DEFAULT_LOG_MAX_FILES = 5;
/** Lines longer than this are written as partial (P) records of this size. */
export const LOG_LINE_MAX = 16 * 1024;
export const LOGGER_NAME = 'converge-logger';

export class LoggerMissingError extends ConvergeError {
  constructor(message: string, cause?: unknown) {
    super('LoggerMissing', message, { cause });
  }
}

export interface LogSettings {
  /** The converge-logger binary; default: defaultLoggerPath(). */
  logger?: string;
  /** Bytes a log file may reach before it is rotated. */
  maxSize?: number;
  /** Files kept per container, the current one included. */
  maxFiles?: number;
}

/** Where scripts/build-logger.sh puts the binary, under the directory converge is installed in. */
export function defaultLoggerPath(): string {
  // dist/src/logs/driver.js -> the package root.
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  return path.join(root, '.tools', LOGGER_NAME, LOGGER_NAME);
}

/** The logger at `file` (default: defaultLoggerPath()), or a LoggerMissingError that says how to get one. */
export async function findLogger(file = defaultLoggerPath()): Promise<string> {
  const resolved = path.resolve(file);
  try {
    await access(resolved, constants.X_OK);
  } catch (err) {
    throw new LoggerMissingError(
      `the task log driver ${resolved} is missing or not executable (${(err as NodeJS.ErrnoException).code}); ` +
        'build it with scripts/build-logger.sh (needs Go) or name it with --logger PATH',
      err,
    );
  }
  return resolved;
}

/** Copies the logger into <stateDir>/bin unless the same bytes are there; returns the copy's path. */
export async function installLogger(source: string, stateDir: string): Promise<string> {
  const bytes = await readFile(source);
  const dir = path.join(stateDir, 'bin');
  const target = path.join(dir, LOGGER_NAME);
  const current = await readFile(target).catch(() => undefined);
  if (current?.equals(bytes)) return target;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  // A new file renamed over the old one: loggers running the old binary keep it.
  const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, bytes, { mode: 0o755 });
  await chmod(tmp, 0o755);
  await rename(tmp, target);
  return target;
}

/**
 * The stdio URI for a task whose log is `file`. The shim turns each query parameter into
 * two arguments (name, value), so the names are the logger's flags.
 */
export function logUri(binary: string, file: string, maxSize: number, maxFiles: number): string {
  const params = new URLSearchParams({ '--file': file, '--max-size': String(maxSize), '--max-files': String(maxFiles), '--line-max': String(LOG_LINE_MAX) });
  return `binary://${binary.split('/').map(encodeURIComponent).join('/')}?${params}`;
}

/** The task logs of one state dir: their files, and the URI a task writes its output through. */
export interface TaskLogs {
  file(key: string): string;
  /** Makes the logs dir, and installs the logger on first use. */
  uri(key: string): Promise<string>;
  remove(key: string): Promise<void>;
}

export function createTaskLogs(stateDir: string, settings: LogSettings = {}): TaskLogs {
  const maxSize = settings.maxSize ?? DEFAULT_LOG_MAX_SIZE;
  const maxFiles = settings.maxFiles ?? DEFAULT_LOG_MAX_FILES;
  let installed: Promise<string> | undefined;
  const install = async (): Promise<string> => installLogger(await findLogger(settings.logger), stateDir);
  return {
    file: (key) => logFileOf(stateDir, key),
    async uri(key) {
      installed ??= install();
      // A failed install is tried again at the next start, not remembered.
      const binary = await installed.catch((err: unknown) => {
        installed = undefined;
        throw err;
      });
      await mkdir(path.join(stateDir, 'logs'), { recursive: true, mode: 0o750 });
      return logUri(binary, logFileOf(stateDir, key), maxSize, maxFiles);
    },
    remove: (key) => removeLogFiles(logFileOf(stateDir, key)),
  };
}
