// The embedded containerd: when no containerd is given or running, `converge run` starts
// Debian's containerd (the first `containerd` on PATH, or CONVERGE_CONTAINERD_BIN) with root,
// state and socket under its own state dir, in the config version that binary expects, and
// stops it on exit. The shims outlive it, so stopping it stops no container.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConvergeError } from '../errors.js';
import { configVersionOf, containerdConfig } from './config.js';
import { socketAnswers } from './address.js';

export const CONTAINERD_BIN = process.env.CONVERGE_CONTAINERD_BIN ?? 'containerd';

export interface EmbeddedContainerd {
  address: string;
  pid: number;
  stop(): Promise<void>;
}

export type EmbeddedErrorCode = 'EmbeddedContainerdFailed';

/** The embedded containerd did not come up; its log tail is in the message. */
export class EmbeddedError extends ConvergeError {
  declare readonly code: EmbeddedErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super('EmbeddedContainerdFailed', message, options);
  }
}

export async function startEmbeddedContainerd(opts: { dir: string; log: Logger; readyTimeoutMs?: number }): Promise<EmbeddedContainerd> {
  const dir = path.resolve(opts.dir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const address = path.join(dir, 'containerd.sock');
  const configPath = path.join(dir, 'config.toml');
  const logPath = path.join(dir, 'containerd.log');
  let version;
  try {
    version = configVersionOf(CONTAINERD_BIN);
  } catch (err) {
    throw new EmbeddedError(`embedded containerd: ${(err as Error).message}`, { cause: err });
  }
  const paths = { root: path.join(dir, 'root'), state: path.join(dir, 'state'), address, opt: path.join(dir, 'opt') };
  fs.writeFileSync(configPath, containerdConfig(paths, version));
  const out = fs.openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    // Its own process group: a ^C aimed at converge must not take containerd down
    // before converge has stopped cleanly.
    child = spawn(CONTAINERD_BIN, ['--config', configPath], { stdio: ['ignore', out, out], detached: true });
  } finally {
    fs.closeSync(out);
  }
  child.unref();
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  let gone = false;
  void exited.then(() => (gone = true));

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  while (!(await socketAnswers(address, 500))) {
    if (gone || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new EmbeddedError(`embedded containerd did not start (see ${logPath}):\n${tail(logPath)}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  opts.log.info({ address, pid: child.pid, logPath }, 'started embedded containerd');
  return {
    address,
    pid: child.pid ?? 0,
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      opts.log.info({ pid: child.pid }, 'stopped embedded containerd');
    },
  };
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-2000);
  } catch {
    return '(no log)';
  }
}
