// Runs the host tools the harness drives (ctr, runc, umount) with a deadline each, so a
// hung tool fails a test instead of wedging it, and reports failures as typed errors.

import { execFile } from 'node:child_process';

export type HarnessErrorCode =
  | 'HARNESS_COMMAND_FAILED'
  | 'HARNESS_COMMAND_TIMEOUT'
  | 'HARNESS_CONTAINERD_EXITED'
  | 'HARNESS_CONTAINERD_NOT_READY'
  | 'HARNESS_STOP_TIMEOUT'
  | 'HARNESS_PATH_TOO_LONG'
  | 'HARNESS_IMPORT_FAILED'
  | 'HARNESS_CLEANUP_INCOMPLETE'
  | 'HARNESS_BAD_ARCHIVE'
  | 'HARNESS_KUBE_TOOLS_MISSING'
  | 'HARNESS_KUBE_NOT_READY';

export class HarnessError extends Error {
  readonly code: HarnessErrorCode;
  constructor(code: HarnessErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HarnessError';
    this.code = code;
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Bytes written to the child's stdin. */
  input?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * ctr reads CONTAINERD_ADDRESS/NAMESPACE/SNAPSHOTTER from the environment; the harness
 * always passes what it means as flags, so a developer's shell cannot redirect it.
 */
function toolEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CONTAINERD_ADDRESS;
  delete env.CONTAINERD_NAMESPACE;
  delete env.CONTAINERD_SNAPSHOTTER;
  return env;
}

/** Runs a program (no shell); rejects with HarnessError on a non-zero exit or the deadline. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout, killSignal: 'SIGKILL', maxBuffer: 16 << 20, env: toolEnv() },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ stdout, stderr });
          return;
        }
        const cmd = [file, ...args].join(' ');
        const timedOut = (err as { killed?: boolean }).killed === true;
        reject(
          new HarnessError(
            timedOut ? 'HARNESS_COMMAND_TIMEOUT' : 'HARNESS_COMMAND_FAILED',
            timedOut
              ? `${cmd}: no answer within ${timeout} ms`
              : `${cmd}: ${err.message.trim()}${stderr ? `\n${stderr.trim()}` : ''}`,
            { cause: err },
          ),
        );
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export interface CtrOptions extends RunOptions {
  namespace?: string;
}

/** Runs `ctr` against one containerd socket (and namespace), never the system default. */
export function ctr(address: string, args: readonly string[], opts: CtrOptions = {}): Promise<RunResult> {
  // Generous: on a loaded shared machine a busy containerd took more than 2 s to answer a
  // dial (an image import failed so); callers bound the whole command with timeoutMs.
  const global = ['--address', address, '--connect-timeout', '10s'];
  if (opts.namespace !== undefined) global.push('--namespace', opts.namespace);
  return run('ctr', [...global, ...args], opts);
}
