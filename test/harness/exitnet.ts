// Makes sure a test process that crashes, is interrupted, or forgets its cleanup leaves no
// containerd, shim, task or mount behind: on exit (and SIGINT/SIGTERM/SIGHUP) it tears down
// whatever is still registered, synchronously, since nothing async runs at that point.

export interface SyncCleanable {
  cleanupSync(): void;
}

const live = new Set<SyncCleanable>();
let installed = false;

function cleanupAllSync(): void {
  for (const item of live) {
    try {
      item.cleanupSync();
    } catch {
      // keep going: the others still need it
    }
  }
  live.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanupAllSync();
      // Our handler is gone now (once), so this takes the default action: die by the signal.
      process.kill(process.pid, sig);
    });
  }
}

export function register(item: SyncCleanable): void {
  install();
  live.add(item);
}

export function unregister(item: SyncCleanable): void {
  live.delete(item);
}
