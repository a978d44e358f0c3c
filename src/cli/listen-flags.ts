// The `converge run` flags of the --listen server beyond its address: the bearer token of
// its mutating endpoints (--listen-token-file) and HTTPS (--tls-cert/--tls-key). Files are
// read once at start; a bad or missing one stops `run` before anything else starts.

import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import type { ServerSecurity } from '../publish/http.js';

export const LISTEN_FLAGS = {
  listen: { type: 'string' },
  'listen-token-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export interface ListenFlagValues {
  listen?: string;
  'listen-token-file'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
}

function read(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`--${flag}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The server's security from the flags (undefined without --listen). Throws on a bad flag. */
export function listenFromFlags(values: ListenFlagValues): ServerSecurity | undefined {
  if (values.listen === undefined) {
    const stray = (['listen-token-file', 'tls-cert', 'tls-key'] as const).find((f) => values[f] !== undefined);
    if (stray) throw new Error(`--${stray} needs --listen`);
    return undefined;
  }
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new Error('--tls-cert and --tls-key: give both or neither');
  const security: ServerSecurity = {};
  if (values['listen-token-file'] !== undefined) {
    const token = read('listen-token-file', values['listen-token-file']).toString('utf8').trim();
    // A token is sent in a header: it must be one visible word, and long enough not to guess.
    if (!/^[\x21-\x7e]{16,}$/.test(token)) throw new Error('--listen-token-file: the token must be at least 16 visible ASCII characters, without spaces');
    security.token = token;
  }
  if (values['tls-cert'] !== undefined && values['tls-key'] !== undefined) {
    security.tls = { cert: read('tls-cert', values['tls-cert']), key: read('tls-key', values['tls-key']) };
  }
  return security;
}
