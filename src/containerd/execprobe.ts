// An exec health check: one extra process in the running task (Tasks.Exec), with the
// container's own process spec (env, user, working directory, capabilities, rlimits) and
// the check's command. Its stdout and stderr go to a file of its own under the state dir,
// read (bounded) once it has exited; it has the check's timeout, after which it is
// SIGKILLed. The exec process is deleted afterwards whatever happened, timeout included,
// so a check never leaves processes behind in the shim.

import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { RuntimeError, type ProbeResult } from '../reconcile/runtime.js';
import { OUTPUT_MAX, boundedText } from '../probe/net.js';
import type { ContainersService } from './containers.js';
import { codeOf } from '../errors.js';
import { isNotFound } from './errors.js';
import type { TasksService } from './tasks.js';
import { execProcessSpec, readProcessTemplate } from './execspec.js';

const SIGKILL = 9;
/** Codes that say the probe could not be made (containerd's side), never the check's answer. */
const NOT_THE_CONTAINERS = new Set(['Unavailable', 'DeadlineExceeded', 'Canceled', 'NotFound', 'FailedPrecondition', 'Aborted']);

export class ExecProbes {
  /** container ID -> the process spec of its current record (the spec hash says which). */
  private readonly templates = new Map<string, { hash: string; process: Record<string, unknown> }>();
  private dirReady: Promise<void> | undefined;

  constructor(
    private readonly tasks: TasksService,
    private readonly containers: ContainersService,
    /** Where the output files go (a dir of converge's state dir; emptied at first use). */
    private readonly dir: string,
    private readonly log: Logger,
    /** Deadline of the calls around the check (exec, start, kill, delete). */
    private readonly callTimeoutMs: number,
  ) {}

  async run(id: string, hash: string, command: string[], timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
    const process = await this.template(id, hash);
    // Files of a converge killed mid-probe are stale: the first probe of this one clears them.
    this.dirReady ??= rm(this.dir, { recursive: true, force: true }).then(() => mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => undefined));
    await this.dirReady;
    const execId = `probe-${randomBytes(6).toString('hex')}`;
    const out = path.join(this.dir, `${id}.${execId}.out`);
    const spec = execProcessSpec(process, command);
    await this.tasks.exec({ containerId: id, execId, spec, stdout: `file://${out}`, stderr: `file://${out}` });
    let result: ProbeResult;
    let output = '';
    try {
      result = await this.startAndWait(id, execId, timeoutMs, signal);
    } finally {
      await this.tasks.deleteProcess(id, execId).catch((err: unknown) => {
        if (!isNotFound(err)) this.log.warn({ id, execId, err }, 'exec process of a health check not deleted');
      });
      // Read once the process is deleted (its output is flushed then); the file goes either way.
      output = await readBounded(out);
      // unlink, not rm: one call, where rm looks first (this runs for every probe).
      await unlink(out).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.log.warn({ id, err }, 'output file of a health check not removed');
      });
    }
    return { ...result, output: [output, result.output].filter(Boolean).join('\n') };
  }

  /** The exit of the exec process; SIGKILL at the check's timeout (or `signal`). Output comes later. */
  private async startAndWait(id: string, execId: string, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
    // The wait is made before the start so that an exit in between cannot be missed; its own
    // deadline only bounds a hung containerd, the check's timeout is the timer below.
    const waitMs = timeoutMs + 2 * this.callTimeoutMs;
    const waiting = this.tasks.wait(id, { execId, timeoutMs: waitMs });
    waiting.catch(() => undefined);
    try {
      await this.tasks.start(id, { execId });
    } catch (err) {
      // runc could not start the command (not found, not executable): the check failed.
      if (NOT_THE_CONTAINERS.has(codeOf(err) ?? '')) throw err;
      return { healthy: false, output: `could not run the check: ${(err as Error).message ?? String(err)}` };
    }
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const timedOut = new Promise<'timeout' | 'aborted'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      onAbort = () => resolve('aborted');
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    let why: 'timeout' | 'aborted';
    try {
      const first = await Promise.race([waiting, timedOut]);
      if (typeof first === 'object') return { healthy: first.exitStatus === 0, code: first.exitStatus, output: '' };
      why = first;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    await this.tasks.kill(id, SIGKILL, false, { execId }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    const exit = await waiting;
    if (why === 'aborted') throw new RuntimeError('Canceled', `health check of ${id} ended: converge is stopping`);
    return { healthy: false, code: exit.exitStatus, timedOut: true, output: `timed out after ${timeoutMs} ms; killed` };
  }

  /** The container's process spec, read from its record once per spec. */
  private async template(id: string, hash: string): Promise<Record<string, unknown>> {
    const cached = this.templates.get(id);
    if (cached?.hash === hash) return cached.process;
    const process = await readProcessTemplate(this.containers, id);
    this.templates.set(id, { hash, process });
    return process;
  }

  forget(id: string): void {
    this.templates.delete(id);
  }
}

async function readBounded(file: string): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return '';
  }
  try {
    const buf = Buffer.alloc(OUTPUT_MAX + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const total = bytesRead > OUTPUT_MAX ? (await handle.stat()).size : bytesRead;
    return boundedText(buf.subarray(0, bytesRead), total).trim();
  } finally {
    await handle.close();
  }
}
