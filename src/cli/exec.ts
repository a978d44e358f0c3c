// `converge exec NAME [-t] [-i] -- CMD...`: runs CMD in the container's running task and
// exits with its exit code. -i passes stdin; -t gives it a terminal (the caller's in raw
// mode, its size followed). Ctrl-C without -t kills the process (with -t it is a key for
// the terminal); either way the exec process is deleted before converge exits.

import path from 'node:path';
import { parseArgs } from 'node:util';
import { COMMON } from './common.js';
import { connect, target } from './connect.js';
import { ExecSession, ExecStartError } from '../containerd/exec.js';
import { messageOf } from '../errors.js';

export const EXEC_USAGE = 'usage: converge exec NAME|NAMESPACE/NAME [-t] [-i] -- CMD [ARG]...\n';

const SIGKILL = 9;

export async function execCommand(args: string[]): Promise<number> {
  const dash = args.indexOf('--');
  const { values, positionals } = parseArgs({
    args: dash < 0 ? args : args.slice(0, dash),
    allowPositionals: true,
    options: { ...COMMON, tty: { type: 'boolean', short: 't' }, interactive: { type: 'boolean', short: 'i' } },
  });
  if (values.help) {
    process.stdout.write(EXEC_USAGE);
    return 0;
  }
  const command = dash < 0 ? positionals.slice(1) : [...positionals.slice(1), ...args.slice(dash + 1)];
  if (positionals.length < 1 || command.length === 0) {
    process.stderr.write(EXEC_USAGE);
    return 2;
  }
  const { id } = target(positionals[0]);
  const conn = await connect(values);
  const tty = values.tty ? { width: process.stdout.columns || 80, height: process.stdout.rows || 24 } : undefined;
  const session = new ExecSession(conn.tasks, conn.containers, {
    id,
    args: command,
    tty,
    stdin: values.interactive ? process.stdin : undefined,
    stdout: process.stdout,
    stderr: process.stderr,
    fifoDir: path.join(conn.stateDir, 'exec'),
  }, conn.client.timeoutMs);
  const rawBefore = process.stdin.isTTY ? process.stdin.isRaw : undefined;
  // One resize at a time, each reading the size when it is sent: two in flight could reach
  // the shim in either order and leave the older size on the terminal.
  let resizing: Promise<void> = Promise.resolve();
  const onResize = (): void => {
    resizing = resizing.then(() => session.resize({ width: process.stdout.columns, height: process.stdout.rows })).catch(() => undefined);
  };
  const onInterrupt = (): void => void session.kill(SIGKILL).catch(() => undefined);
  try {
    // Followed from before the start: a resize while it starts is not missed (the one after
    // it reads the size as it is by then).
    if (tty && process.stdout.isTTY) process.stdout.on('resize', onResize);
    await session.start();
    if (tty && process.stdout.isTTY) onResize();
    if (tty && process.stdin.isTTY && values.interactive) process.stdin.setRawMode(true);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onInterrupt);
    return await session.wait();
  } catch (err) {
    if (err instanceof ExecStartError) {
      process.stderr.write(`converge: exec: ${messageOf(err)}\n`);
      return err.exitCode;
    }
    throw err;
  } finally {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onInterrupt);
    process.stdout.off('resize', onResize);
    if (rawBefore !== undefined) process.stdin.setRawMode(rawBefore);
    if (values.interactive) process.stdin.destroy();
    conn.close();
  }
}
