// The `converge run` flags of the Git source and what they build: the source itself and the
// routes it adds to the --listen server. Flags -> options is wiring, so it lives in cli/:
// the source stays free of the publishing side it is wired to. run.ts only spreads and calls.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { parseDuration } from '../duration.js';
import type { Route } from '../publish/http.js';
import { gitSyncRoute } from '../publish/webhook.js';
import { createGitSource, type GitSource } from '../sources/git.js';

export const GIT_FLAGS = {
  git: { type: 'string' },
  'git-ref': { type: 'string', default: 'main' },
  'git-path': { type: 'string', default: '' },
  'git-interval': { type: 'string', default: '30s' },
  'git-webhook-secret': { type: 'string' },
  'git-webhook-secret-file': { type: 'string' },
  'git-verify-commits': { type: 'string' },
} as const;

export interface GitFlagValues {
  git?: string;
  'git-ref'?: string;
  'git-path'?: string;
  'git-interval'?: string;
  'git-webhook-secret'?: string;
  'git-webhook-secret-file'?: string;
  'git-verify-commits'?: string;
}

export interface GitSetup {
  source: GitSource;
  /** POST /v1/git/sync (the webhook URL too). */
  routes: Route[];
}

/** The Git source from the flags, or undefined without --git. Throws on a bad flag. */
export function gitFromFlags(values: GitFlagValues, deps: { stateDir: string; log: Logger }): GitSetup | undefined {
  if (!values.git) {
    const stray = Object.keys(GIT_FLAGS).find((f) => f !== 'git' && f !== 'git-ref' && f !== 'git-path' && f !== 'git-interval' && values[f as keyof GitFlagValues] !== undefined);
    if (stray) throw new Error(`--${stray} needs --git`);
    return undefined;
  }
  const intervalMs = parseDuration(values['git-interval'] ?? '30s', '--git-interval');
  if (intervalMs < 100) throw new Error(`--git-interval: must be at least 100ms, got '${values['git-interval']}'`);
  if (values['git-webhook-secret'] !== undefined && values['git-webhook-secret-file'] !== undefined) {
    throw new Error('--git-webhook-secret and --git-webhook-secret-file: give one of them');
  }
  let secret = values['git-webhook-secret'];
  if (values['git-webhook-secret-file'] !== undefined) secret = readFileSync(values['git-webhook-secret-file'], 'utf8').trim();
  if (secret !== undefined && secret === '') throw new Error('--git-webhook-secret: must not be empty');
  const source = createGitSource({
    url: values.git,
    ref: values['git-ref'] || 'main',
    path: values['git-path'] ?? '',
    stateDir: deps.stateDir,
    intervalMs,
    verifyKeyring: values['git-verify-commits'] === undefined ? undefined : path.resolve(values['git-verify-commits']),
    log: deps.log,
  });
  return { source, routes: [gitSyncRoute(source, { secret, log: deps.log })] };
}
