// POST /v1/restart?key=NAMESPACE/NAME on the --listen server (`converge restart`): the
// controller stops the key's task and starts a new one, so its own state (restart count,
// back-off, health) stays true. `?wait=1` answers once the new task runs (or the restart
// failed), within the container's grace period and a minute. Guarded like every POST.

import type { Route } from './http.js';
import type { Controller, ReconcileEvent } from '../reconcile/controller.js';

export const RESTART_PATH = '/v1/restart';

const LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
const KEY = new RegExp(`^${LABEL}/${LABEL}$`);

export function restartRoute(controller: Pick<Controller, 'requestRestart' | 'onReconcile'>, extraWaitMs = 60_000): Route {
  return {
    method: 'POST',
    path: RESTART_PATH,
    async handle(req) {
      const key = req.query.get('key') ?? '';
      if (!KEY.test(key)) return { status: 400, body: { error: `key: expected NAMESPACE/NAME (DNS-1123 labels), got '${key.slice(0, 140)}'` } };
      const wait = req.query.get('wait');
      // Listened to before the ask: the restart may be done before this handler looks again.
      const seen: ReconcileEvent[] = [];
      let notify = (): void => undefined;
      const off = controller.onReconcile((e) => {
        if (e.key !== key || !(e.error || e.action === 'restart' || e.action === 'start' || e.action === 'recreate' || e.action === 'remove')) return;
        seen.push(e);
        notify();
      });
      let e: ReconcileEvent | undefined;
      const ask = controller.requestRestart(key);
      try {
        if (!ask.ok) return { status: ask.status, body: { error: ask.error } };
        if (wait === null || wait === '0' || wait === 'false') return { status: 202, body: { key, restarting: true, pid: ask.pid } };
        e = seen[0] ?? (await new Promise<ReconcileEvent | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), ask.graceMs + extraWaitMs);
          notify = () => {
            clearTimeout(timer);
            resolve(seen[0]);
          };
        }));
      } finally {
        off();
      }
      if (!e) return { status: 504, body: { error: `${key}: no new task within ${Math.round((ask.graceMs + extraWaitMs) / 1000)}s`, key } };
      if (e.error) return { status: 500, body: { error: `${e.error.code}: ${e.error.message}`, key } };
      return { status: 200, body: { key, action: e.action, oldPid: ask.pid, pid: e.pid ?? null, restarts: ask.restarts + (e.action === 'restart' ? 1 : 0) } };
    },
  };
}
