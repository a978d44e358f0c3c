// The directory source against a real temp directory and real file watching (no containerd):
// drops, edits, editor saves, partial writes, bursts, broken files and a vanishing directory.
// The watch events come in real time; the source's own timers (debounce, settle, retries,
// re-listing) run on a FakeClock that the tests step. Every wait is for a condition, never
// a fixed sleep.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { FakeClock } from '../../src/clock.js';
import { createDirectorySource, isSpecFile, type DirectorySourceOptions } from '../../src/sources/directory.js';
import type { Source } from '../../src/desired.js';
import type { Snapshot } from '../../src/spec/types.js';
import { specYaml } from '../harness/specs.js';
import { waitFor } from '../harness/wait.js';

const DEBOUNCE_MS = 30; // the source's default quiet time

const keys = (s: Snapshot) => s.specs.map((d) => d.key).sort();
const imageOf = (s: Snapshot, name: string) => s.specs.find((d) => d.name === name)?.spec.spec.image;

/**
 * Waits for `done`, stepping the clock to the source's next timer whenever one is set: the
 * quickest the source can go, with the watch events arriving as fast as they do.
 */
function stepping<T>(clock: FakeClock, what: string, done: () => T | undefined, timeoutMs = 10_000): Promise<NonNullable<T>> {
  return waitFor(
    () => {
      const value = done();
      if (value) return value;
      const at = clock.nextAt();
      if (at !== undefined) clock.advance(at - clock.now());
      return undefined;
    },
    { what, timeoutMs, intervalMs: 5 },
  );
}

interface LogLine {
  msg: string;
  event?: string;
  path?: string;
}

interface Harness {
  dir: string;
  source: Source;
  clock: FakeClock;
  snapshots: Snapshot[];
  /** The source's log lines (trace level: every watch event is there). */
  logs: LogLine[];
  last(): Snapshot;
  /** Resolves with the first snapshot (the latest one included) for which `pred` holds, stepping time as it goes. */
  until(what: string, pred: (s: Snapshot) => boolean): Promise<Snapshot>;
  /** Resolves with the snapshot after the first `count` ones, without stepping time. */
  after(count: number, what: string): Promise<Snapshot>;
  /** Resolves once the watcher has reported `event` for every one of `paths`. */
  watched(event: string, paths: string[]): Promise<void>;
}

async function harness(t: { after(fn: () => Promise<void>): void }, setup?: (dir: string) => void, options: Partial<DirectorySourceOptions> = {}): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), 'converge-dir-'));
  const dir = join(root, 'specs');
  if (setup) setup(dir);
  const logs: LogLine[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { logs.push(JSON.parse(String(chunk)) as LogLine); done(); } });
  // Started at the real time: the re-listing compares the clock with real file mtimes.
  const clock = new FakeClock(Date.now());
  // The periodic re-listing is off unless a test is about it: stepping to it would read
  // changes that the watcher is meant to find.
  const source = createDirectorySource({ dir, log: pino({ level: 'trace' }, sink), clock, resyncMs: 0, ...options });
  const snapshots: Snapshot[] = [];
  const h: Harness = {
    dir,
    source,
    clock,
    snapshots,
    logs,
    last: () => snapshots[snapshots.length - 1],
    until(what, pred) {
      const from = Math.max(0, snapshots.length - 1); // the latest one counts; none after it is missed
      return stepping(clock, what, () => snapshots.slice(from).find(pred));
    },
    after: (count, what) => waitFor(() => snapshots[count], { what, timeoutMs: 10_000, intervalMs: 5 }),
    async watched(event, paths) {
      const reported = () => new Set(logs.filter((l) => l.msg === 'watch event' && l.event === event).map((l) => l.path));
      await waitFor(() => ((seen) => paths.every((p) => seen.has(p)))(reported()), {
        what: `${event} events for ${paths.length} path(s)`,
        timeoutMs: 10_000,
        intervalMs: 5,
      });
    },
  };
  t.after(async () => {
    await source.stop();
    rmSync(root, { recursive: true, force: true });
  });
  await source.start((s) => snapshots.push(s));
  return h;
}

test('isSpecFile: yaml, yml and json; never hidden files, editor temp or backup files', () => {
  for (const name of ['web.yaml', 'web.yml', 'web.json', 'WEB.YAML', 'a.b.yaml']) assert.equal(isSpecFile(name), true, name);
  const ignored = ['web.yaml~', '.web.yaml', '.web.yaml.swp', 'web.yaml.swp', 'web.yaml.swx', '4913', '.#web.yaml', '#web.yaml#',
    'web.yaml.tmp', '.web.yaml.kate-swp', 'web.yaml.bak', 'web.txt', 'README', '.hidden.json', 'web.yaml___jb_tmp___'];
  for (const name of ignored) assert.equal(isSpecFile(name), false, name);
});

test('start: resolves after the first full snapshot, specs in sorted file order', async (t) => {
  const h = await harness(t, (dir) => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'b.yaml'), specYaml('bee'));
    writeFileSync(join(dir, 'a.yaml'), specYaml('ant') + '---\n' + specYaml('ape'));
  });
  assert.equal(h.snapshots.length, 1);
  const s = h.last();
  assert.equal(s.source, `dir:${h.dir}`);
  assert.equal(s.complete, true);
  assert.deepEqual(s.specs.map((d) => d.name), ['ant', 'ape', 'bee']);
  assert.deepEqual(s.specs.map((d) => d.origin), [`dir:${join(h.dir, 'a.yaml')}`, `dir:${join(h.dir, 'a.yaml')}`, `dir:${join(h.dir, 'b.yaml')}`]);
  assert.deepEqual(s.problems, []);
});

test('a dropped file shows up well under a second; an edit changes its hash; deleting drops it', async (t) => {
  const h = await harness(t, (dir) => mkdirSync(dir));
  const started = performance.now();
  writeFileSync(join(h.dir, 'web.yaml'), specYaml('web'));
  const added = await h.until('web to appear', (s) => keys(s).includes('default/web'));
  const latency = performance.now() - started;
  t.diagnostic(`drop -> snapshot: ${latency.toFixed(0)} ms`);
  assert.ok(latency < 1000, `took ${latency} ms`);

  writeFileSync(join(h.dir, 'web.yaml'), specYaml('web', { image: 'busybox:2' }));
  const edited = await h.until('the edit', (s) => imageOf(s, 'web') === 'busybox:2');
  assert.notEqual(edited.specs[0].hash, added.specs[0].hash);

  unlinkSync(join(h.dir, 'web.yaml'));
  const gone = await h.until('web to go', (s) => s.specs.length === 0);
  assert.equal(gone.complete, true);
});

test('editor saves never drop the spec in between: vim (rename to backup, write, delete) and temp + rename', async (t) => {
  const h = await harness(t, (dir) => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'web.yaml'), specYaml('web', { image: 'v1' }));
  });
  const from = h.snapshots.length;
  const file = join(h.dir, 'web.yaml');
  // vim with backupcopy=no: rename the original away, write anew, remove the backup.
  renameSync(file, `${file}~`);
  writeFileSync(join(h.dir, '4913'), ''); // vim's probe file
  unlinkSync(join(h.dir, '4913'));
  writeFileSync(file, specYaml('web', { image: 'v2' }));
  unlinkSync(`${file}~`);
  await h.until('the vim save', (s) => imageOf(s, 'web') === 'v2');
  // Many editors and tools: write a temp file beside it, then rename it over.
  writeFileSync(join(h.dir, '.web.yaml.tmp'), specYaml('web', { image: 'v3' }));
  renameSync(join(h.dir, '.web.yaml.tmp'), file);
  await h.until('the rename save', (s) => imageOf(s, 'web') === 'v3');
  const between = h.snapshots.slice(from);
  assert.ok(between.every((s) => keys(s).includes('default/web')), 'web was missing from a snapshot during a save');
  assert.ok(between.every((s) => s.problems.length === 0));
});

test('a file written in parts is read once the write is finished, never half', async (t) => {
  // A longer stability window than the gap between the writes, so that the test says what
  // it means even on a slow machine.
  const h = await harness(t, (dir) => mkdirSync(dir), { stabilityMs: 400 });
  const fd = openSync(join(h.dir, 'web.yaml'), 'w');
  const text = specYaml('web', { image: 'busybox:latest' });
  const cut = text.indexOf('busybox') + 4; // "image: busy" is a valid document of the wrong image
  writeSync(fd, text.slice(0, cut));
  await new Promise((resolve) => setTimeout(resolve, 50)); // the writer is slow: part of the scenario
  writeSync(fd, text.slice(cut));
  closeSync(fd);
  await h.until('web', (s) => keys(s).includes('default/web'));
  assert.ok(h.snapshots.every((s) => imageOf(s, 'web') === undefined || imageOf(s, 'web') === 'busybox:latest'), 'a half-written file was applied');
});

test('a file moved into place is read without the write-settle wait; one written in place waits it out', async (t) => {
  // A settle window no test outlasts: whatever is read, was read without it.
  const h = await harness(t, (dir) => mkdirSync(dir), { stabilityMs: 600_000 });
  const inPlace = join(h.dir, 'slow.yaml');
  const fd = openSync(inPlace, 'w');
  writeSync(fd, specYaml('slow')); // complete, yet written in place: no telling from here
  const temp = join(h.dir, '.web.yaml.tmp');
  writeFileSync(temp, specYaml('web'));
  renameSync(temp, join(h.dir, 'web.yaml'));
  const s = await h.until('the moved file', (x) => keys(x).includes('default/web'));
  assert.deepEqual(keys(s), ['default/web'], 'the file written in place was read before its write settled');
  closeSync(fd);
  // Moved over an existing file: read again, just as soon.
  writeFileSync(temp, specYaml('web', { image: 'v2' }));
  renameSync(temp, join(h.dir, 'web.yaml'));
  const edited = await h.until('the moved edit', (x) => imageOf(x, 'web') === 'v2');
  assert.ok(!keys(edited).includes('default/slow'));
});

test('a file moved in and deleted before its write would have settled is dropped, without waiting for the re-listing', async (t) => {
  // The watcher reports a file's delete only once its add has settled, which with this
  // window never happens: what drops it is the source's own look after the delete.
  const h = await harness(t, (dir) => mkdirSync(dir), { stabilityMs: 600_000 });
  const temp = join(h.dir, '.web.yaml.tmp');
  writeFileSync(temp, specYaml('web'));
  renameSync(temp, join(h.dir, 'web.yaml'));
  await h.until('the moved file', (x) => keys(x).includes('default/web'));
  unlinkSync(join(h.dir, 'web.yaml'));
  const gone = await h.until('web to go', (x) => x.specs.length === 0);
  assert.equal(gone.complete, true);
});

test('temp, backup, hidden, other files and subdirectories are ignored', async (t) => {
  const h = await harness(t, (dir) => mkdirSync(dir));
  const noise = ['web.yaml~', '.web.yaml.swp', 'web.yaml.swp', '.#web.yaml', '#web.yaml#', 'web.yaml.tmp', '.web.yaml.kate-swp', 'notes.txt', '.hidden.yaml'];
  noise.forEach((name, i) => writeFileSync(join(h.dir, name), specYaml(`noise${i}`)));
  mkdirSync(join(h.dir, 'sub'));
  writeFileSync(join(h.dir, 'sub', 'deep.yaml'), specYaml('deep'));
  mkdirSync(join(h.dir, 'dir.yaml'));
  writeFileSync(join(h.dir, 'zz-marker.yaml'), specYaml('marker')); // written last: once it is in, the rest had its chance
  const s = await h.until('the marker', (x) => keys(x).includes('default/marker'));
  assert.deepEqual(keys(s), ['default/marker']);
  assert.deepEqual(s.problems, []);
});

test('200 files dropped in quick succession (a copy tool) arrive in one snapshot after the quiet time', async (t) => {
  const h = await harness(t, (dir) => mkdirSync(dir));
  const from = h.snapshots.length;
  const files = Array.from({ length: 200 }, (_, i) => join(h.dir, `c${String(i).padStart(3, '0')}.yaml`));
  files.forEach((file, i) => writeFileSync(file, specYaml(`c${i}`)));
  // However the watch events are spread out in real time, no time passes on the source's
  // clock meanwhile: every one of them lands within the quiet time of the first.
  await h.watched('add', files);
  assert.equal(h.snapshots.length, from, 'read before the quiet time had passed');
  h.clock.advance(DEBOUNCE_MS - 1);
  assert.equal(h.clock.pending(), 1, 'the burst is one pending read');
  h.clock.advance(1);
  const s = await h.after(from, 'the burst read');
  assert.equal(s.specs.length, 200);
  assert.equal(h.snapshots.length, from + 1);
});

test('a burst that goes on is read no later than 5x the quiet time after it began', async (t) => {
  // A short write-settle window: each step of the test waits for one real watch event.
  const h = await harness(t, (dir) => mkdirSync(dir), { stabilityMs: 20 });
  const from = h.snapshots.length;
  const began = h.clock.now();
  const written: string[] = [];
  let due = 0;
  // A change every 20 ms, less than the 30 ms quiet time: each one puts the read off again,
  // until the burst is 150 ms old; from then on the read stays where it is.
  for (let i = 0; h.snapshots.length === from; i++) {
    const file = join(h.dir, `f${i}.yaml`);
    writeFileSync(file, specYaml(`f${i}`));
    written.push(file);
    await h.watched('add', [file]);
    const age = h.clock.now() - began;
    const last = due;
    due = h.clock.nextAt()! - began;
    if (age < 5 * DEBOUNCE_MS) assert.equal(due, age + DEBOUNCE_MS, `a change at +${age} ms puts the read off`);
    else assert.equal(due, last, `a change at +${age} ms leaves the read where it was`);
    h.clock.advance(20);
    if (h.clock.pending() === 0) await h.after(from, 'the capped read');
  }
  // The last put-off was at +140 ms (to +170); the changes at +160 ms did not move it.
  assert.equal(due, 170);
  assert.deepEqual(keys(h.last()), written.map((_, i) => `default/f${i}`).sort());
});

test('a broken file keeps its last good specs and reports its problems until fixed', async (t) => {
  const h = await harness(t, (dir) => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'web.yaml'), specYaml('web', { image: 'v1' }) + '---\n' + specYaml('db'));
  });
  const good = h.last();
  const file = join(h.dir, 'web.yaml');

  writeFileSync(file, 'apiVersion: converge.dev/v1alpha1\nkind: [\n');
  const broken = await h.until('a parse problem', (s) => s.problems.length > 0);
  assert.deepEqual(broken.specs, good.specs);
  assert.equal(broken.problems[0].file, file);
  assert.equal(broken.complete, true);

  writeFileSync(file, specYaml('web', { image: 'v2', spec: '  restartPolicy: Sometimes\n' }));
  const invalid = await h.until('a validation problem', (s) => s.problems.some((p) => p.path === 'spec.restartPolicy'));
  assert.deepEqual(invalid.specs, good.specs, 'an invalid version replaced the good one');

  writeFileSync(file, specYaml('web', { image: 'v3' }));
  const fixed = await h.until('the fix', (s) => s.problems.length === 0);
  assert.deepEqual(keys(fixed), ['default/web']); // db is no longer in the file
  assert.equal(imageOf(fixed, 'web'), 'v3');
});

test('a file that was never good contributes only its problems', async (t) => {
  const h = await harness(t, (dir) => mkdirSync(dir));
  writeFileSync(join(h.dir, 'bad.yaml'), specYaml('Bad'));
  const s = await h.until('its problem', (x) => x.problems.length > 0);
  assert.deepEqual(s.specs, []);
  assert.equal(s.problems[0].path, 'metadata.name');
  assert.equal(s.problems[0].document, 0);
  assert.equal(s.problems[0].line, 4);
});

test('a deleted directory is unknown, not empty: specs kept, complete false; read again when recreated', async (t) => {
  const h = await harness(t, (dir) => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'web.yaml'), specYaml('web'));
    writeFileSync(join(dir, 'db.yaml'), specYaml('db'));
  });
  rmSync(h.dir, { recursive: true });
  const lost = await h.until('complete: false', (s) => !s.complete);
  assert.deepEqual(keys(lost), ['default/db', 'default/web']);
  assert.equal(lost.problems[0].file, h.dir);
  assert.match(lost.problems[0].message, /directory does not exist/);

  mkdirSync(h.dir);
  writeFileSync(join(h.dir, 'web.yaml'), specYaml('web', { image: 'v2' }));
  writeFileSync(join(h.dir, 'cache.yaml'), specYaml('cache'));
  const back = await h.until('the directory back', (s) => s.complete && imageOf(s, 'web') === 'v2' && keys(s).includes('default/cache'));
  assert.deepEqual(keys(back), ['default/cache', 'default/web']); // db.yaml did not come back
  assert.deepEqual(back.problems, []);
  assert.ok(h.snapshots.every((s) => s.complete || keys(s).includes('default/db')), 'an incomplete snapshot lost specs');
});

test('a directory missing at start: an incomplete first snapshot, looked for every retryMs, then its files once it appears', async (t) => {
  const retryMs = 1000;
  const h = await harness(t, undefined, { retryMs });
  assert.equal(h.snapshots.length, 1);
  assert.equal(h.last().complete, false);
  assert.deepEqual(h.last().specs, []);
  assert.equal(h.last().problems.length, 1);
  assert.equal(h.clock.nextAt(), h.clock.now() + retryMs, 'the next look is one retry away');
  h.clock.advance(retryMs);
  const again = await h.after(1, 'the second look');
  assert.equal(again.complete, false);
  assert.equal(h.clock.nextAt(), h.clock.now() + retryMs, 'and the next one too');

  // Found by the next look on the clock (the watch on the parent may see it first).
  mkdirSync(h.dir);
  writeFileSync(join(h.dir, 'web.yaml'), specYaml('web'));
  h.clock.advance(retryMs);
  const s = await h.until('the new directory', (x) => x.complete && keys(x).includes('default/web'));
  assert.deepEqual(s.problems, []);
});

test('a ConfigMap-style symlink swap, which no watch event names, is caught by the periodic re-listing', async (t) => {
  // kubelet mounts a ConfigMap as web.yaml -> ..data/web.yaml, ..data -> ..v1, and updates it
  // by pointing ..data at a new directory: only the hidden ..data changes.
  const h = await harness(t, (dir) => {
    mkdirSync(join(dir, '..v1'), { recursive: true });
    writeFileSync(join(dir, '..v1', 'web.yaml'), specYaml('web', { image: 'v1' }));
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'web.yaml'), join(dir, 'web.yaml'));
  }, { resyncMs: 30_000 });
  assert.equal(imageOf(h.last(), 'web'), 'v1');
  mkdirSync(join(h.dir, '..v2'));
  writeFileSync(join(h.dir, '..v2', 'web.yaml'), specYaml('web', { image: 'v2' }));
  symlinkSync('..v2', join(h.dir, '..data_tmp'));
  renameSync(join(h.dir, '..data_tmp'), join(h.dir, '..data'));
  const count = h.snapshots.length;
  assert.equal(h.clock.nextAt(), h.clock.now() + 30_000, 'nothing but the re-listing is due');
  h.clock.advance(30_000);
  const s = await h.after(count, 'the re-listing');
  assert.equal(imageOf(s, 'web'), 'v2');
});

test('no snapshot after stop', async (t) => {
  const h = await harness(t, (dir) => mkdirSync(dir));
  // A witness watching the same directory, on the same clock, shows when the change has had
  // time to be seen (and its read the time to run).
  const witness = createDirectorySource({ dir: h.dir, log: pino({ level: 'silent' }), clock: h.clock, resyncMs: 0 });
  let seen = false;
  await witness.start((s) => (seen ||= keys(s).includes('default/web')));
  t.after(() => witness.stop());
  await h.source.stop();
  const count = h.snapshots.length;
  writeFileSync(join(h.dir, 'web.yaml'), specYaml('web'));
  await stepping(h.clock, 'the witness to see web', () => seen);
  assert.equal(h.snapshots.length, count);
});
