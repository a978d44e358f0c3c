// The directory source: watches one flat directory of spec files and emits the FULL set of
// specs (level-based, like kubelet's static pod directory) after every burst of changes.
//
// - Flat: only files directly in the directory count; subdirectories and hidden files are
//   ignored, as kubelet does. Only *.yaml, *.yml and *.json files are read, which also
//   leaves out editor temp and backup files (foo.yaml~, foo.yaml.swp, 4913, .#foo.yaml, ...).
// - Each file is applied whole: a file that fails to read, parse or validate keeps the specs
//   of its last good version (bad input never destroys good state) and reports its problems.
//   A deleted file drops its specs.
// - A missing or unreadable directory is unknown, never empty: the snapshot says
//   complete: false and keeps the last good specs. It is looked for again on a timer and
//   through the watch on its parent, and read in full when it is back.
// - chokidar events only say which files to read again; they are coalesced (debounced) so a
//   burst of 500 new files gives a few snapshots, not 500. awaitWriteFinish holds a file
//   until its size has settled, so a half-written file is not applied; the atomic window
//   turns an editor's unlink + create into one change, so a save never drops a container.
// - A file moved into place (rename(2): editors, config management, git) is complete when
//   it appears, so it skips the write-settle wait: a name that the watch reports created or
//   moved in, that no write was seen on since (a write is always reported before a stat can
//   see its bytes), and that is a non-empty regular file, is read after `movedMs`. A file
//   created and then written in place shows its write, so it waits out the settle.
//   A periodic re-listing is the safety net for lost watch events.
// - Every timer and time read goes through the injected clock, so tests step the debounce,
//   the retries and the re-listing instead of waiting them out.

import { basename, dirname, join, resolve, sep } from 'node:path';
import { readdir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import chokidar, { type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import { every, systemClock, type Clock } from '../clock.js';
import type { DesiredContainer, Problem, Snapshot } from '../spec/types.js';
import { fileProblem, formatProblem, loadFile, readSpecFile } from '../spec/load.js';
import type { Source } from '../desired.js';

/** chokidar's atomic window: a delete followed by a re-create within it is one change. */
const ATOMIC_MS = 100;

export interface DirectorySourceOptions {
  dir: string;
  log: Logger;
  /** Quiet time that ends a burst of changes (the wait is capped at 5x this). Default 30. */
  debounceMs?: number;
  /** How long a written file's size must stay put before it is read. Default 100. */
  stabilityMs?: number;
  /** Quiet time before reading a file moved into place (it needs no settle). Default 5. */
  movedMs?: number;
  /** While the directory is missing or unreadable, how often to look for it. Default 1000. */
  retryMs?: number;
  /** Re-list the directory this often to catch lost watch events; 0 turns it off. Default 30000. */
  resyncMs?: number;
  /** Size limit per file. Default 1 MiB. */
  maxBytes?: number;
  /** Wall-clock time (it is compared with file mtimes) and timers. Default systemClock. */
  clock?: Clock;
}

/** Whether a directory entry is a spec file: *.yaml, *.yml, *.json and not hidden. */
export function isSpecFile(name: string): boolean {
  return !name.startsWith('.') && /\.(ya?ml|json)$/i.test(name);
}

interface FileState {
  /** The specs of the file's last good version. */
  specs: DesiredContainer[];
  /** Problems of its current version; empty when that version is the good one. */
  problems: Problem[];
  /** ino:size:mtime:ctime at the last read, for the periodic re-listing. */
  sig: string;
}

const signature = (st: Stats) => `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
const errCode = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code ?? String(err);

export function createDirectorySource(opts: DirectorySourceOptions): Source {
  const dir = resolve(opts.dir);
  const name = `dir:${dir}`;
  const log = opts.log.child({ source: name });
  const debounceMs = opts.debounceMs ?? 30;
  const stabilityMs = opts.stabilityMs ?? 100;
  const movedMs = opts.movedMs ?? 5;
  const retryMs = opts.retryMs ?? 1000;
  const resyncMs = opts.resyncMs ?? 30_000;
  const clock = opts.clock ?? systemClock;

  const files = new Map<string, FileState>();
  /** Names the watcher reported since the last read. */
  const dirty = new Set<string>();
  let readAll = true;
  let relist = false;
  let dirProblem: Problem | undefined;
  let onSnapshot: ((s: Snapshot) => void) | undefined;
  let watcher: FSWatcher | undefined;
  let timer: unknown;
  let burstStart = 0;
  let stopRetry: (() => void) | undefined;
  let stopResync: (() => void) | undefined;
  /** Names with a write reported since they were last created or moved in. */
  const written = new Set<string>();
  /** Names read as moved in, with no watch event since: the settled event for them is stale. */
  const moved = new Set<string>();
  let running: Promise<void> | undefined;
  let again = false;
  let live = false;
  let stopped = false;

  /** Watch only the directory itself, its ancestors (to see it come back) and its files. */
  function ignored(path: string, stats?: Stats): boolean {
    if (path === dir || dir.startsWith(path.endsWith(sep) ? path : path + sep)) return false;
    if (dirname(path) !== dir || !isSpecFile(basename(path))) return true;
    return stats?.isDirectory() ?? false;
  }

  function schedule(delay = debounceMs): void {
    if (!live || stopped) return; // the first read, still to come, reads everything
    const now = clock.now();
    if (timer === undefined) burstStart = now;
    else if (now - burstStart >= 5 * debounceMs) return; // a long burst: let the timer fire
    else clock.clearTimeout(timer);
    timer = clock.setTimeout(fire, delay);
  }

  function fire(): void {
    timer = undefined;
    if (running) {
      again = true;
      return;
    }
    running = drain().finally(() => (running = undefined));
  }

  async function drain(): Promise<void> {
    do {
      again = false;
      try {
        await readOnce();
      } catch (err) {
        log.error({ err }, 'reading the spec directory failed');
      }
    } while (again && !stopped);
  }

  async function readOnce(): Promise<void> {
    let listing: string[];
    try {
      const entries = await readdir(dir, { withFileTypes: true });
      listing = entries.filter((e) => (e.isFile() || e.isSymbolicLink()) && isSpecFile(e.name)).map((e) => e.name).sort();
    } catch (err) {
      const code = errCode(err);
      const message = code === 'ENOENT' ? 'directory does not exist' : `cannot read directory (${code})`;
      if (dirProblem?.message !== message) log.warn({ dir, code }, 'spec directory unreadable; keeping its last good specs');
      dirProblem = { file: dir, path: '', message: `${message}; its last good specs are kept` };
      readAll = true; // when it is back, read everything again
      dirty.clear();
      stopRetry ??= every(clock, retryMs, () => schedule(0));
      emit(false);
      return;
    }
    if (dirProblem) log.info({ dir }, 'spec directory readable again');
    dirProblem = undefined;
    stopRetry?.();
    stopRetry = undefined;

    if (readAll) {
      readAll = relist = false;
      dirty.clear();
      const present = new Set(listing);
      for (const file of files.keys()) if (!present.has(file)) dropFile(file);
      for (const file of listing) await readFile(file);
    } else {
      if (relist) await markChanged(listing);
      const names = [...dirty].sort();
      dirty.clear();
      for (const file of names) await readFile(file);
    }
    emit(true);
  }

  /** The periodic re-listing: marks what changed without the watcher saying so. */
  async function markChanged(listing: string[]): Promise<void> {
    relist = false;
    const present = new Set(listing);
    for (const file of files.keys()) if (!present.has(file)) dirty.add(file);
    for (const file of listing) {
      try {
        const st = await stat(join(dir, file));
        // A file written just now is left to the watcher, which waits for the write to end.
        if (files.get(file)?.sig !== signature(st) && clock.now() - st.mtimeMs > 2 * stabilityMs) dirty.add(file);
      } catch {
        dirty.add(file);
      }
    }
  }

  function dropFile(file: string): void {
    if (files.delete(file)) log.info({ file: join(dir, file) }, 'spec file removed');
  }

  async function readFile(file: string): Promise<void> {
    const path = join(dir, file);
    let st: Stats;
    try {
      st = await stat(path);
    } catch (err) {
      if (errCode(err) === 'ENOENT') return dropFile(file);
      return setFile(file, [fileProblem(path, err)], [], '');
    }
    if (!st.isFile()) return dropFile(file);
    let text: string;
    try {
      text = await readSpecFile(path, opts.maxBytes);
    } catch (err) {
      if (errCode((err as { cause?: unknown }).cause) === 'ENOENT') return dropFile(file);
      return setFile(file, [fileProblem(path, err)], [], signature(st));
    }
    const result = loadFile(path, text, { maxBytes: opts.maxBytes });
    setFile(file, result.problems, result.specs, signature(st));
  }

  function setFile(file: string, problems: Problem[], specs: DesiredContainer[], sig: string): void {
    const prev = files.get(file);
    if (problems.length === 0) {
      files.set(file, { specs, problems, sig });
      log.debug({ file: join(dir, file), specs: specs.length }, 'spec file read');
      return;
    }
    files.set(file, { specs: prev?.specs ?? [], problems, sig });
    log.warn(
      // Each problem in full (document, line, field, what was expected): the log is where a
      // user of the directory source learns what is wrong with a file.
      { file: join(dir, file), problems: problems.map(formatProblem), keptSpecs: prev?.specs.length ?? 0 },
      'spec file has problems; keeping its last good specs',
    );
  }

  /** The watcher's raw events: which names were written in place, which created or moved in. */
  function onRaw(event: string, path: string | null, details: unknown): void {
    if (!path) return;
    const file = basename(path);
    const watched = (details as { watchedPath?: unknown } | undefined)?.watchedPath ?? dirname(path);
    if (watched !== dir || !isSpecFile(file)) return;
    moved.delete(file);
    if (event === 'change') written.add(file);
    else if (event === 'rename') {
      written.delete(file);
      void movedIn(file);
    }
  }

  /** Reads a name soon if it is a complete file moved into place (see the header). */
  async function movedIn(file: string): Promise<void> {
    let st: Stats;
    try {
      st = await stat(join(dir, file));
    } catch {
      // Gone (moved away, deleted). The watcher reports that only for a file whose add had
      // settled; one read as moved in and removed within the settle time (a container that
      // came up faster than that) it never reports. Looked at again after the same window
      // the watcher allows an editor's delete and re-create, so a save drops nothing.
      if (files.has(file)) clock.setTimeout(() => void goneYet(file), ATOMIC_MS);
      return;
    }
    // Every watch event queued before the stat (a write it saw the bytes of) is delivered
    // in the same turn of the event loop as its result, so by setImmediate it is in.
    await new Promise((resolve) => setImmediate(resolve));
    if (written.has(file) || !st.isFile() || st.size === 0 || stopped) return;
    moved.add(file);
    dirty.add(file);
    schedule(movedMs);
  }

  /** A file the watcher may never report gone: read again (and dropped) if it still is. */
  async function goneYet(file: string): Promise<void> {
    if (stopped || !files.has(file)) return;
    if (await stat(join(dir, file)).then(() => false, () => true)) {
      dirty.add(file);
      schedule(movedMs);
    }
  }

  function emit(complete: boolean): void {
    if (stopped || !onSnapshot) return;
    const names = [...files.keys()].sort();
    const specs = names.flatMap((f) => files.get(f)!.specs);
    const problems = names.flatMap((f) => files.get(f)!.problems);
    if (dirProblem) problems.unshift(dirProblem);
    onSnapshot({ source: name, specs, problems, complete });
  }

  return {
    name,
    async start(cb) {
      onSnapshot = cb;
      const w = chokidar.watch(dir, {
        ignored,
        ignoreInitial: true,
        atomic: true,
        awaitWriteFinish: { stabilityThreshold: stabilityMs, pollInterval: Math.max(10, Math.round(stabilityMs / 4)) },
      });
      watcher = w;
      w.on('all', (event, path) => {
        log.trace({ event, path }, 'watch event');
        if (path === dir) {
          // The directory (re)appeared: read it all once its files have had time to settle.
          if (event === 'addDir') readAll = true;
          schedule(event === 'addDir' ? stabilityMs : debounceMs);
        } else if (dirname(path) === dir) {
          // The settled add/change of a file already read as moved in brings nothing new.
          if ((event === 'add' || event === 'change') && moved.delete(basename(path))) return;
          dirty.add(basename(path));
          schedule();
        }
      });
      w.on('raw', onRaw);
      w.on('error', (err) => {
        log.warn({ err }, 'directory watch error; reading the directory again');
        readAll = true;
        schedule();
      });
      await new Promise<void>((ok) => w.once('ready', () => ok()));
      live = true;
      fire(); // the first full read
      await running;
      if (resyncMs > 0) {
        stopResync = every(clock, resyncMs, () => {
          relist = true;
          schedule(0);
        });
      }
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      stopRetry?.();
      stopResync?.();
      await watcher?.close();
      await running;
    },
  };
}
