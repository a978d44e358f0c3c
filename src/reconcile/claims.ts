// Before the sources are read at start: what is running tells the store which source each
// container came from and which spec made it (adoption), and the listing serves the first
// reconciles.

import type { Logger } from 'pino';
import type { DesiredStore } from '../desired.js';
import type { Key } from '../spec/types.js';
import type { Memory } from './memory.js';
import type { Runtime } from './runtime.js';

/**
 * Tells the store which origin each running container came from, so that a name two
 * sources declare goes back to the one that declared it before converge restarted, and
 * which spec each of converge's containers was made from, so that a stricter policy
 * stops none of them. Best effort: with the runtime down, plain arrival order decides.
 */
export async function preferRunningClaims(ctx: { runtime: Runtime; memory: Memory; store: DesiredStore; log: Logger }): Promise<void> {
  const { runtime, memory, store, log } = ctx;
  try {
    const origins = new Map<Key, string>();
    const made = new Map<Key, { origin: string; hash: string }>();
    const began = memory.beginListing();
    const listed = await runtime.list();
    // The first reconciles, queued as the sources are read, use this listing instead of
    // two calls each (a running task's Get asks its shim): /readyz after a restart with
    // 1,000 running containers took 14 s of such reads.
    memory.recordListing(began, listed);
    for (const c of listed) {
      if (c.origin) origins.set(c.key, c.origin);
      if (c.origin && c.managed && c.specHash) made.set(c.key, { origin: c.origin, hash: c.specHash });
    }
    store.prefer(origins);
    store.adopt(made);
  } catch (err) {
    log.warn({ err }, 'could not list containers before reading sources');
  }
}
