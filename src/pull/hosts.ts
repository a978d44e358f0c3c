// Which hosts converge speaks plain HTTP to, and which hosts count as the same party for
// credentials. Loopback is insecure by default, as in docker: a local registry rarely has
// a certificate, and nothing on loopback crosses a network.

import { isIP } from 'node:net';

/** The host name of "host:port" or "[v6]:port", without brackets or port. */
export function hostnameOf(host: string): string {
  return host.replace(/:[0-9]+$/, '').replace(/^\[(.*)\]$/, '$1');
}

export function isLoopback(hostname: string): boolean {
  const name = hostname.replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  return name === '::1';
}

/** Whether `host` ("host:port" or "host") gets plain HTTP: listed with or without its port, or loopback. */
export function isInsecure(host: string, insecure: readonly string[] = []): boolean {
  if (insecure.includes(host)) return true;
  const hostname = hostnameOf(host);
  if (insecure.includes(hostname)) return true;
  return isLoopback(hostname);
}

/**
 * Token servers known to belong to a registry although their name differs: Docker Hub's
 * credentials (kept under docker.io) go to auth.docker.io, as every docker client sends them.
 */
const KNOWN_TOKEN_HOSTS: Record<string, readonly string[]> = { 'docker.io': ['auth.docker.io'] };

/**
 * Whether a token realm on `realmHostname` is the registry's own party: the same host name
 * as the registry (any port), or the registry's known token server.
 */
export function sameParty(registryHost: string, domain: string, realmHostname: string): boolean {
  if (hostnameOf(registryHost).toLowerCase() === realmHostname.toLowerCase()) return true;
  return (KNOWN_TOKEN_HOSTS[domain] ?? []).includes(realmHostname.toLowerCase());
}
