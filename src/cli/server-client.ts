// How `converge status` reaches a running controller's --listen server: plain HTTP, or
// HTTPS when `run` recorded a certificate in the state dir. The controller's certificate
// is trusted as is (it may be self-signed, or name the node rather than 127.0.0.1): the
// connection is pinned to that exact certificate, not to whatever a CA vouches for.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';

export interface ServerRef {
  /** "host:port". */
  address: string;
  scheme: 'http' | 'https';
  /** The PEM file of the certificate the server presents (https). */
  certFile?: string;
}

/** The server from `--server` (HOST:PORT, or a URL with its scheme). */
export function serverFromFlag(text: string): ServerRef {
  const m = /^(https?):\/\/([^/]+)\/?$/.exec(text);
  return m ? { scheme: m[1] as 'http' | 'https', address: m[2] } : { scheme: 'http', address: text };
}

/** GET `p` from the server: its status and body (5 s deadline). */
export function getFrom(server: ServerRef, p: string): Promise<{ status: number; body: string }> {
  return requestTo(server, p);
}

export interface RequestOptions {
  method?: 'GET' | 'POST';
  /** Default 5 s. */
  timeoutMs?: number;
  /** Sent as Authorization: Bearer (a mutating route on a listener with --listen-token-file). */
  token?: string;
}

/** One request to the server: its status and body. */
export async function requestTo(server: ServerRef, p: string, opts: RequestOptions = {}): Promise<{ status: number; body: string }> {
  const method = opts.method ?? 'GET';
  const timeoutMs = opts.timeoutMs ?? 5000;
  const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
  if (server.scheme === 'http') {
    const res = await fetch(`http://${server.address}${p}`, { method, headers, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  }
  const pinned = server.certFile ? readFileSync(server.certFile) : undefined;
  const fingerprint = pinned ? new X509Certificate(pinned).fingerprint256 : undefined;
  const url = new URL(`https://${server.address}${p}`);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        headers,
        ca: pinned ? [...tls.rootCertificates, pinned] : undefined,
        checkServerIdentity: (host, peer) => (fingerprint && peer.fingerprint256 === fingerprint ? undefined : tls.checkServerIdentity(host, peer)),
        timeout: timeoutMs,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${server.address} within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}
