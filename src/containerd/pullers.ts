// The Puller behind a runtime's pulls: made at the first pull from the registry settings
// (where credentials are, plain-HTTP registries, the bounds), and made again for the next
// pull when `converge run` is given new settings on a SIGHUP. Pulls under way finish with
// the Puller they started on.

import type { Logger } from 'pino';
import { dockerConfigStore } from '../pull/credentials.js';
import { Puller } from '../pull/puller.js';
import type { ImageStore } from '../pull/store.js';
import { RegistryClient } from '../pull/registry.js';
import type { RegistrySettings } from './settings.js';

export type { RegistrySettings };


export interface PullerSlot {
  get(): Puller;
  /** Settings for the next pull. */
  configure(next: RegistrySettings): void;
}

export function createPullerSlot(deps: { store: () => ImageStore; log: Logger; stateDir: string }, initial: RegistrySettings = {}): PullerSlot {
  let settings = initial;
  let puller: Puller | undefined;
  return {
    get() {
      const r = settings;
      puller ??= new Puller({
        store: deps.store(),
        log: deps.log,
        concurrency: r.concurrency,
        limits: r.limits,
        disk: { path: r.diskPath ?? deps.stateDir },
        registry: new RegistryClient({ insecure: r.insecure, credentials: r.credentials ?? dockerConfigStore(r.configPath), maxManifestBytes: r.limits?.manifestBytes }),
      });
      return puller;
    },
    configure(next) {
      settings = next;
      puller = undefined;
    },
  };
}
