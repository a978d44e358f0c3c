// Helpers shared by the tests that read spec files from disk: FIFOs that cannot wedge the
// test process, and `converge validate` run into a string.

import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { Writable } from 'node:stream';
import { validateCommand } from '../../src/cli/validate.js';

const fifos = new Set<string>();

/** Makes a FIFO; releaseFifos() must run when the test is done with it. */
export function mkfifo(path: string): string {
  execFileSync('mkfifo', [path]);
  fifos.add(path);
  return path;
}

/**
 * A reader stuck in open() on a FIFO (the bug these tests guard against) keeps the process
 * alive: a writer that opens and closes at once lets it go, so a failing run ends instead of
 * hanging.
 */
export function releaseFifos(): void {
  for (const fifo of fifos) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // ENXIO: nobody is waiting on it; ENOENT: already removed
    }
  }
  fifos.clear();
}

/** `converge validate PATH...`: the exit code and the printed lines. */
export async function validate(paths: string[]): Promise<{ code: number; lines: string[] }> {
  let text = '';
  const out = new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) });
  const code = await validateCommand(paths, out);
  return { code, lines: text.trimEnd().split('\n') };
}
