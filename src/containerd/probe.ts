// One probe of a container's health check, as Runtime.probe runs it: exec inside its task
// (execprobe.ts), or httpGet/tcpSocket from converge to its address: the host's loopback
// for network host, its address on the bridge for network bridge. (The schema allows
// httpGet and tcpSocket only there; with network none converge reaches nothing.)

import { httpProbe, tcpProbe } from '../probe/net.js';
import { RuntimeError, type ProbeResult } from '../reconcile/runtime.js';
import type { DesiredContainer } from '../spec/types.js';
import type { ExecProbes } from './execprobe.js';
import { idOf } from './labels.js';

export async function probeContainer(
  execProbes: ExecProbes,
  /** The container's address on the bridge, once attached. */
  bridgeAddress: (id: string) => string | undefined,
  desired: DesiredContainer,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const check = desired.resolved.healthCheck;
  if (!check) throw new RuntimeError('InvalidArgument', `${desired.key} has no healthCheck`);
  const id = idOf(desired.key);
  const { action, timeoutMs: limit } = check;
  if (action.kind === 'exec') return execProbes.run(id, desired.hash, action.command, limit, signal);
  const network = desired.resolved.network;
  const host = network === 'host' ? '127.0.0.1' : network === 'bridge' ? bridgeAddress(id) : undefined;
  if (!host) throw new RuntimeError('FailedPrecondition', `no address of ${desired.key} to probe`);
  return action.kind === 'http' ? httpProbe(host, action.port, action.path, limit, signal) : tcpProbe(host, action.port, limit, signal);
}
