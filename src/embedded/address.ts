// Where containerd is: the --containerd-address flag, else the system's socket if
// something listens there, else the embedded containerd's socket under the state dir.

import net from 'node:net';
import path from 'node:path';

export const SYSTEM_SOCKET = '/run/containerd/containerd.sock';

export function embeddedSocket(stateDir: string): string {
  return path.join(stateDir, 'containerd', 'containerd.sock');
}

/** True when something accepts connections on the unix socket. */
export function socketAnswers(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    const done = (ok: boolean) => {
      conn.destroy();
      resolve(ok);
    };
    conn.setTimeout(timeoutMs, () => done(false));
    conn.once('connect', () => done(true));
    conn.once('error', () => done(false));
  });
}

export async function resolveAddress(flag: string | undefined, stateDir: string): Promise<{ address: string; embedded: boolean }> {
  if (flag) return { address: flag.replace(/^unix:\/\//, ''), embedded: false };
  if (await socketAnswers(SYSTEM_SOCKET)) return { address: SYSTEM_SOCKET, embedded: false };
  return { address: embeddedSocket(stateDir), embedded: true };
}
