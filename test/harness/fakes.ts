// Stand-ins for the HTTP tests of the Git routes: a Git source that fetches nothing and
// counts how often it was asked to sync (unit tests of logic only; the Git source itself is
// tested against real git).

import type { GitSource, SyncOutcome } from '../../src/sources/git.js';

export function fakeGitSource(name = 'git:file:///repo.git'): GitSource & { calls: number } {
  const outcome: SyncOutcome = { result: 'applied', revision: 'c0ffee', fetched: 'c0ffee' };
  const s = {
    name,
    kind: 'git' as const,
    ref: 'main',
    calls: 0,
    async sync() {
      s.calls += 1;
      return outcome;
    },
    follows: (ref: string) => ref === 'refs/heads/main',
    status: () => ({ name: s.name, kind: 'git' as const, revision: 'c0ffee' }) as unknown as ReturnType<GitSource['status']>,
    start: async () => undefined,
    stop: async () => undefined,
  };
  return s;
}
