// Registry credentials from a docker-style config.json (~/.docker/config.json, or the
// --registry-config file): "auths" entries, and the credential helpers docker runs
// (credHelpers per registry, credsStore for all).

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_DOMAIN } from '../spec/reference.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (docker login to a registry that issues one). */
  identityToken?: string;
  /** A bearer token to send as is. */
  registryToken?: string;
}

export interface CredentialStore {
  /** Credentials for a registry domain as written in references ("docker.io", "host:5000"). */
  get(domain: string): Promise<Credentials | undefined>;
  /** Where they come from, for messages. */
  readonly source: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

const HELPER_TIMEOUT_MS = 10_000;

/** $DOCKER_CONFIG/config.json, else ~/.docker/config.json (as docker looks). */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
}

/** "https://index.docker.io/v1/" and "host:5000/some/path" both name a host. */
function hostOfKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0];
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DEFAULT_DOMAIN : host;
}

function fromEntry(e: AuthEntry): Credentials | undefined {
  const out: Credentials = {};
  if (e.auth) {
    const text = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) {
      out.username = text.slice(0, colon);
      out.password = text.slice(colon + 1);
    }
  }
  if (e.username) out.username = e.username;
  if (e.password) out.password = e.password;
  if (e.identitytoken) out.identityToken = e.identitytoken;
  if (e.registrytoken) out.registryToken = e.registrytoken;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Runs `docker-credential-NAME get` as docker does: server on stdin, JSON on stdout. */
function runHelper(name: string, server: string): Promise<Credentials | undefined> {
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${name}`, ['get'], { timeout: HELPER_TIMEOUT_MS }, (err, stdout) => {
      if (err) {
        // Helpers answer "credentials not found" with a non-zero exit: no credentials.
        if (/not found/i.test(stdout) || (err as { code?: unknown }).code === 1) resolve(undefined);
        else reject(new Error(`credential helper docker-credential-${name}: ${err.message}`));
        return;
      }
      try {
        const res = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (!res.Secret) resolve(undefined);
        // docker's convention: user "<token>" means the secret is an identity token.
        else if (res.Username === '<token>') resolve({ identityToken: res.Secret });
        else resolve({ username: res.Username, password: res.Secret });
      } catch (parseErr) {
        reject(new Error(`credential helper docker-credential-${name} printed no JSON`, { cause: parseErr }));
      }
    });
    child.stdin?.end(server);
  });
}

/**
 * Reads `file` on each lookup (it is small, and `docker login` may change it while converge
 * runs). A missing file means no credentials; a broken one is an error.
 */
export function dockerConfigStore(file: string = defaultConfigPath()): CredentialStore {
  async function load(): Promise<DockerConfig> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    try {
      return JSON.parse(text) as DockerConfig;
    } catch (err) {
      throw new Error(`registry config ${file} is not valid JSON`, { cause: err });
    }
  }

  return {
    source: file,
    async get(domain) {
      const config = await load();
      const wanted = hostOfKey(domain);
      // docker keys Docker Hub by its v1 URL; helpers expect that same string.
      const server = wanted === DEFAULT_DOMAIN ? 'https://index.docker.io/v1/' : wanted;
      const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => hostOfKey(k) === wanted)?.[1];
      if (helper) return runHelper(helper, server);
      for (const [key, entry] of Object.entries(config.auths ?? {})) {
        if (hostOfKey(key) === wanted) {
          const creds = fromEntry(entry);
          if (creds) return creds;
        }
      }
      if (config.credsStore) return runHelper(config.credsStore, server);
      return undefined;
    },
  };
}

/** No credentials at all (tests, or a caller that wants anonymous pulls). */
export const noCredentials: CredentialStore = { source: '(none)', get: async () => undefined };
