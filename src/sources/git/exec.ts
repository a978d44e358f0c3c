// Runs the git CLI for the Git source: one process per call, a deadline on each, its own
// session (no controlling terminal, so neither git nor ssh can stop to prompt for a password
// or a host key), the whole process group killed on timeout or stop, and every message
// scrubbed of credentials before it leaves this module.

import { spawn } from 'node:child_process';
import { systemClock, type Clock } from '../../clock.js';
import { ConvergeError } from '../../errors.js';

export type GitErrorCode = 'GIT_FAILED' | 'GIT_TIMEOUT' | 'GIT_ABORTED' | 'GIT_NOT_INSTALLED' | 'GIT_OUTPUT_TOO_LARGE';

export class GitError extends ConvergeError {
  // `declare`: narrows ConvergeError's code without a class field that would reset it.
  declare readonly code: GitErrorCode;
  /** git's stderr, redacted. */
  readonly stderr: string;
  readonly exitCode: number | null;
  constructor(code: GitErrorCode, message: string, details: { stderr?: string; exitCode?: number | null; cause?: unknown } = {}) {
    super(code, message, { cause: details.cause });
    this.stderr = details.stderr ?? '';
    this.exitCode = details.exitCode ?? null;
  }
}

export interface GitRunOptions {
  /** The repository (passed as --git-dir, so no working tree is involved). */
  gitDir?: string;
  /** Extra environment (e.g. GIT_CONFIG_* carrying the remote URL, GNUPGHOME). */
  env?: Record<string, string>;
  timeoutMs: number;
  input?: string;
  signal?: AbortSignal;
  /** Applied to stderr and every message, to remove credentials. */
  redact: (text: string) => string;
  /** Default 64 MiB. */
  maxOutputBytes?: number;
  /** Runs the deadline. Default systemClock. */
  clock?: Clock;
}

export interface GitResult {
  stdout: Buffer;
  stderr: string;
}

/** Variables that would point git at another repository than the one given. */
const INHERITED_GIT_VARS = [
  'GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_NAMESPACE', 'GIT_CEILING_DIRECTORIES', 'GIT_CONFIG_COUNT', 'GIT_CONFIG_PARAMETERS', 'GIT_COMMON_DIR',
];

function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of INHERITED_GIT_VARS) delete env[name];
  // Fixed messages (they end up in status) and never a prompt: a fetch that needs a password
  // nobody configured fails at once instead of hanging until its deadline.
  return { ...env, LC_ALL: 'C', LANG: 'C', GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: '', SSH_ASKPASS: '', ...extra };
}

export function runGit(args: readonly string[], opts: GitRunOptions): Promise<GitResult> {
  return runProgram('git', opts.gitDir ? ['--git-dir', opts.gitDir, ...args] : args, opts, `git ${args[0] ?? ''}`);
}

/** Runs another tool the same way (gpg, to load the keyring for --git-verify-commits). */
export function runProgram(file: string, argv: readonly string[], opts: GitRunOptions, what = `${file} ${argv[0] ?? ''}`): Promise<GitResult> {
  const maxOutput = opts.maxOutputBytes ?? 64 << 20;
  const clock = opts.clock ?? systemClock;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new GitError('GIT_ABORTED', `${what}: stopped`));
      return;
    }
    const child = spawn(file, argv, {
      env: gitEnv(opts.env),
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true, // own session and process group: no tty to prompt on, and one kill reaches ssh too
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let failure: GitError | undefined;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const fail = (e: GitError) => {
      failure ??= e;
      killGroup();
    };
    const timer = clock.setTimeout(() => fail(new GitError('GIT_TIMEOUT', `${what}: no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const onAbort = () => fail(new GitError('GIT_ABORTED', `${what}: stopped`));
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout!.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxOutput) fail(new GitError('GIT_OUTPUT_TOO_LARGE', `${what}: output over ${maxOutput} bytes`));
      else out.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (err.reduce((n, b) => n + b.length, 0) < 64 << 10) err.push(chunk);
    });
    child.stdin?.on('error', () => undefined); // git may exit before reading all of it
    if (opts.input !== undefined) child.stdin!.end(opts.input);

    child.once('error', (e: NodeJS.ErrnoException) => {
      clock.clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const code: GitErrorCode = e.code === 'ENOENT' ? 'GIT_NOT_INSTALLED' : 'GIT_FAILED';
      reject(new GitError(code, code === 'GIT_NOT_INSTALLED' ? `${file} is not installed (not in PATH)` : `${what}: ${opts.redact(e.message)}`, { cause: e }));
    });
    child.once('close', (exitCode) => {
      clock.clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const stderr = opts.redact(Buffer.concat(err).toString('utf8').trim());
      if (failure) {
        reject(new GitError(failure.code, failure.message, { stderr, exitCode }));
      } else if (exitCode !== 0) {
        reject(new GitError('GIT_FAILED', `${what}: ${lastLines(stderr) || `exit code ${exitCode}`}`, { stderr, exitCode }));
      } else {
        resolve({ stdout: Buffer.concat(out), stderr });
      }
    });
  });
}

/** git's stderr ends with the line that matters ("fatal: ..."); keep the message short. */
function lastLines(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const fatal = lines.filter((l) => /^(fatal|error):/.test(l));
  return (fatal.length > 0 ? fatal : lines.slice(-2)).join('; ');
}
