// POST /v1/auto-update on the --listen server: one check of every autoUpdate container now
// (`converge auto-update`), answered with what each check found and did; `?dryRun=1` only
// says what would change. Like /v1/git/sync, it is for the loopback listener converge binds
// by default.

import type { Route } from './http.js';
import type { UpdateReport } from '../reconcile/updater.js';

export const AUTO_UPDATE_PATH = '/v1/auto-update';

export function autoUpdateRoute(updater: { check(options: { dryRun?: boolean }): Promise<UpdateReport[]> }): Route {
  return {
    method: 'POST',
    path: AUTO_UPDATE_PATH,
    async handle(req) {
      const dry = req.query.get('dryRun');
      const dryRun = dry !== null && dry !== '0' && dry !== 'false';
      return { status: 200, body: { dryRun, containers: await updater.check({ dryRun }) } };
    },
  };
}
