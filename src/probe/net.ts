// The health checks that go over the network from converge to a container's address:
// httpGet (a 2xx or 3xx answer is healthy, redirects are not followed, as kubelet counts
// them) and tcpSocket (a connection that opens is healthy). Each has a deadline, reads at
// most OUTPUT_MAX bytes of what it is told, and never throws for what the container does:
// a refused connection or a timeout is an unhealthy result.

import http from 'node:http';
import net from 'node:net';

/** Bytes of a probe's output kept for the status (docker keeps 4 KiB too). */
export const OUTPUT_MAX = 4096;

export interface NetProbeResult {
  healthy: boolean;
  output: string;
  /** The HTTP status of an httpGet. */
  code?: number;
  timedOut?: boolean;
}

/** Text of at most OUTPUT_MAX bytes, cut on a character boundary, marked when cut. */
export function boundedText(bytes: Buffer, total = bytes.length): string {
  const text = bytes.subarray(0, OUTPUT_MAX).toString('utf8').replace(/\uFFFD+$/, '');
  return total > OUTPUT_MAX ? `${text}... (${total} bytes, first ${OUTPUT_MAX} kept)` : text;
}

const failed = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException;
  return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? err);
};

/**
 * One probe's end: the first of its answer, its deadline (one for connect, headers and the
 * bounded body, as a probe's timeoutSeconds is) and `signal` (converge stopping: a failure
 * nobody will count). `start` begins the I/O and returns what tears it down.
 */
function probeOnce(what: string, timeoutMs: number, signal: AbortSignal | undefined, start: (finish: (r: NetProbeResult) => void) => () => void): Promise<NetProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    let teardown = (): void => undefined;
    const finish = (r: NetProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      teardown();
      resolve(r);
    };
    const onAbort = (): void => finish({ healthy: false, output: `${what}: ended (converge stopping)` });
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => finish({ healthy: false, output: `${what}: no answer within ${timeoutMs} ms`, timedOut: true }), timeoutMs);
    teardown = start(finish);
  });
}

export function httpProbe(host: string, port: number, path: string, timeoutMs: number, signal?: AbortSignal): Promise<NetProbeResult> {
  return probeOnce(`GET ${path}`, timeoutMs, signal, (finish) => {
    const req = http.get({ host, port, path, agent: false, headers: { 'user-agent': 'converge-probe', connection: 'close' } }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const answer = (): void => {
        const body = boundedText(Buffer.concat(chunks), size).trim();
        finish({ healthy: status >= 200 && status < 400, code: status, output: `HTTP ${status}${body ? `: ${body}` : ''}` });
      };
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size - chunk.length < OUTPUT_MAX + 1) chunks.push(chunk);
        // Enough to show; the rest of a large body is not read at all.
        if (size > OUTPUT_MAX) answer();
      });
      res.on('end', answer);
      res.on('error', answer);
    });
    req.on('error', (err) => finish({ healthy: false, output: `GET ${path}: ${failed(err)}` }));
    return () => req.destroy();
  });
}

export function tcpProbe(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<NetProbeResult> {
  const where = `${host}:${port}`;
  return probeOnce(`connect ${where}`, timeoutMs, signal, (finish) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => finish({ healthy: true, output: `connected to ${where}` }));
    socket.once('error', (err) => finish({ healthy: false, output: `connect ${where}: ${failed(err)}` }));
    return () => socket.destroy();
  });
}
