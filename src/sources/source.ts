// A source of desired state: it reads specs from somewhere (a directory, the Kubernetes API,
// a Git repository) and reports the FULL set each time, level-based, never deltas.

import type { Snapshot } from '../types.js';

export interface Source {
  /** Unique among the sources, e.g. "dir:/etc/converge/specs"; the snapshots carry it. */
  name: string;
  /**
   * Starts reading. Resolves after the first full read has been passed to `onSnapshot`
   * (complete or not); later snapshots follow whenever the input changes.
   */
  start(onSnapshot: (s: Snapshot) => void): Promise<void>;
  /** Stops watching; no snapshot is emitted after it resolves. */
  stop(): Promise<void>;
}
