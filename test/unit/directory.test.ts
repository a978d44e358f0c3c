// The directory source against a real temp directory and real file watching (no containerd):
// drops, edits, editor saves, partial writes, bursts, broken files and a vanishing directory.
// Every wait is for a condition on the emitted snapshots, with a generous timeout.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createDirectorySource, isSpecFile, type DirectorySourceOptions } from '../../src/sources/directory.js';
import type { Source } from '../../src/desired.js';
import type { Snapshot } from '../../src/spec/types.js';

const log = pino({ level: 'silent' });

const spec = (name: string, image = 'busybox') =>
  `apiVersion: converge.dev/v1alpha1\nkind: Container\nmetadata:\n  name: ${name}\nspec:\n  image: ${image}\n`;

const keys = (s: Snapshot) => s.specs.map((d) => d.key).sort();
const imageOf = (s: Snapshot, name: string) => s.specs.find((d) => d.name === name)?.spec.spec.image;

interface Harness {
  dir: string;
  source: Source;
  snapshots: Snapshot[];
  last(): Snapshot;
  /** Resolves with the first snapshot (the latest one included) for which `pred` holds. */
  until(what: string, pred: (s: Snapshot) => boolean, timeoutMs?: number): Promise<Snapshot>;
  close(): Promise<void>;
}

async function harness(t: { after(fn: () => Promise<void>): void }, setup?: (dir: string) => void, options: Partial<DirectorySourceOptions> = {}): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), 'converge-dir-'));
  const dir = join(root, 'specs');
  if (setup) setup(dir);
  const snapshots: Snapshot[] = [];
  const waiters = new Set<{ pred: (s: Snapshot) => boolean; done: (s: Snapshot) => void }>();
  const source = createDirectorySource({ dir, log, ...options });
  const h: Harness = {
    dir,
    source,
    snapshots,
    last: () => snapshots[snapshots.length - 1],
    until(what, pred, timeoutMs = 10_000) {
      const current = snapshots[snapshots.length - 1];
      if (current && pred(current)) return Promise.resolve(current);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const seen = current === h.last() ? 'no new snapshot' : JSON.stringify({ keys: keys(h.last()), complete: h.last().complete, problems: h.last().problems });
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${seen}`));
        }, timeoutMs);
        const waiter = { pred, done: (s: Snapshot) => (clearTimeout(timer), waiters.delete(waiter), resolve(s)) };
        waiters.add(waiter);
      });
    },
    async close() {
      await source.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
  t.after(() => h.close());
  await source.start((s) => {
    snapshots.push(s);
    for (const w of [...waiters]) if (w.pred(s)) w.done(s);
  });
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
    writeFileSync(join(dir, 'b.yaml'), spec('bee'));
    writeFileSync(join(dir, 'a.yaml'), spec('ant') + '---\n' + spec('ape'));
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
  writeFileSync(join(h.dir, 'web.yaml'), spec('web'));
  const added = await h.until('web to appear', (s) => keys(s).includes('default/web'));
  const latency = performance.now() - started;
  t.diagnostic(`drop -> snapshot: ${latency.toFixed(0)} ms`);
  assert.ok(latency < 1000, `took ${latency} ms`);

  writeFileSync(join(h.dir, 'web.yaml'), spec('web', 'busybox:2'));
  const edited = await h.until('the edit', (s) => imageOf(s, 'web') === 'busybox:2');
  assert.notEqual(edited.specs[0].hash, added.specs[0].hash);

  unlinkSync(join(h.dir, 'web.yaml'));
  const gone = await h.until('web to go', (s) => s.specs.length === 0);
  assert.equal(gone.complete, true);
});

test('editor saves never drop the spec in between: vim (rename to backup, write, delete) and temp + rename', async (t) => {
  const h = await harness(t, (dir) => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'web.yaml'), spec('web', 'v1'));
  });
  const from = h.snapshots.length;
  const file = join(h.dir, 'web.yaml');
  // vim with backupcopy=no: rename the original away, write anew, remove the backup.
  renameSync(file, `${file}~`);
  writeFileSync(join(h.dir, '4913'), ''); // vim's probe file
  unlinkSync(join(h.dir, '4913'));
  writeFileSync(file, spec('web', 'v2'));
  unlinkSync(`${file}~`);
  await h.until('the vim save', (s) => imageOf(s, 'web') === 'v2');
  // Many editors and tools: write a temp file beside it, then rename it over.
  writeFileSync(join(h.dir, '.web.yaml.tmp'), spec('web', 'v3'));
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
  const text = spec('web', 'busybox:latest');
  const cut = text.indexOf('busybox') + 4; // "image: busy" is a valid document of the wrong image
  writeSync(fd, text.slice(0, cut));
  await new Promise((resolve) => setTimeout(resolve, 50)); // the writer is slow: part of the scenario
  writeSync(fd, text.slice(cut));
  closeSync(fd);
  await h.until('web', (s) => keys(s).includes('default/web'));
  assert.ok(h.snapshots.every((s) => imageOf(s, 'web') === undefined || imageOf(s, 'web') === 'busybox:latest'), 'a half-written file was applied');
});

test('temp, backup, hidden, other files and subdirectories are ignored', async (t) => {
  const h = await harness(t, (dir) => mkdirSync(dir));
  const noise = ['web.yaml~', '.web.yaml.swp', 'web.yaml.swp', '.#web.yaml', '#web.yaml#', 'web.yaml.tmp', '.web.yaml.kate-swp', 'notes.txt', '.hidden.yaml'];
  noise.forEach((name, i) => writeFileSync(join(h.dir, name), spec(`noise${i}`)));
  mkdirSync(join(h.dir, 'sub'));
  writeFileSync(join(h.dir, 'sub', 'deep.yaml'), spec('deep'));
  mkdirSync(join(h.dir, 'dir.yaml'));
  writeFileSync(join(h.dir, 'zz-marker.yaml'), spec('marker')); // written last: once it is in, the rest had its chance
  const s = await h.until('the marker', (x) => keys(x).includes('default/marker'));
  assert.deepEqual(keys(s), ['default/marker']);
  assert.deepEqual(s.problems, []);
});

test('200 files dropped in quick succession (a copy tool) arrive in a few snapshots', async (t) => {
  const h = await harness(t, (dir) => mkdirSync(dir));
  const from = h.snapshots.length;
  const started = performance.now();
  for (let i = 0; i < 200; i++) {
    writeFileSync(join(h.dir, `c${String(i).padStart(3, '0')}.yaml`), spec(`c${i}`));
    // The copy goes on over a while, as cp -r of many files does: without coalescing this
    // gives a snapshot per watch event batch (some 10 here), with it a few.
    if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await h.until('all 200', (s) => s.specs.length === 200);
  const emitted = h.snapshots.length - from;
  t.diagnostic(`200 files: ${emitted} snapshots in ${(performance.now() - started).toFixed(0)} ms`);
  assert.ok(emitted <= 6, `${emitted} snapshots for one burst`);
});

test('a broken file keeps its last good specs and reports its problems until fixed', async (t) => {
  const h = await harness(t, (dir) => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'web.yaml'), spec('web', 'v1') + '---\n' + spec('db'));
  });
  const good = h.last();
  const file = join(h.dir, 'web.yaml');

  writeFileSync(file, 'apiVersion: converge.dev/v1alpha1\nkind: [\n');
  const broken = await h.until('a parse problem', (s) => s.problems.length > 0);
  assert.deepEqual(broken.specs, good.specs);
  assert.equal(broken.problems[0].file, file);
  assert.equal(broken.complete, true);

  writeFileSync(file, spec('web', 'v2').replace('image: v2', 'image: v2\n  restartPolicy: Sometimes'));
  const invalid = await h.until('a validation problem', (s) => s.problems.some((p) => p.path === 'spec.restartPolicy'));
  assert.deepEqual(invalid.specs, good.specs, 'an invalid version replaced the good one');

  writeFileSync(file, spec('web', 'v3'));
  const fixed = await h.until('the fix', (s) => s.problems.length === 0);
  assert.deepEqual(keys(fixed), ['default/web']); // db is no longer in the file
  assert.equal(imageOf(fixed, 'web'), 'v3');
});

test('a file that was never good contributes only its problems', async (t) => {
  const h = await harness(t, (dir) => mkdirSync(dir));
  writeFileSync(join(h.dir, 'bad.yaml'), spec('Bad'));
  const s = await h.until('its problem', (x) => x.problems.length > 0);
  assert.deepEqual(s.specs, []);
  assert.equal(s.problems[0].path, 'metadata.name');
  assert.equal(s.problems[0].document, 0);
  assert.equal(s.problems[0].line, 4);
});

test('a deleted directory is unknown, not empty: specs kept, complete false; read again when recreated', async (t) => {
  const h = await harness(t, (dir) => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'web.yaml'), spec('web'));
    writeFileSync(join(dir, 'db.yaml'), spec('db'));
  }, { retryMs: 200 });
  rmSync(h.dir, { recursive: true });
  const lost = await h.until('complete: false', (s) => !s.complete);
  assert.deepEqual(keys(lost), ['default/db', 'default/web']);
  assert.equal(lost.problems[0].file, h.dir);
  assert.match(lost.problems[0].message, /directory does not exist/);

  mkdirSync(h.dir);
  writeFileSync(join(h.dir, 'web.yaml'), spec('web', 'v2'));
  writeFileSync(join(h.dir, 'cache.yaml'), spec('cache'));
  const back = await h.until('the directory back', (s) => s.complete && imageOf(s, 'web') === 'v2' && keys(s).includes('default/cache'));
  assert.deepEqual(keys(back), ['default/cache', 'default/web']); // db.yaml did not come back
  assert.deepEqual(back.problems, []);
  assert.ok(h.snapshots.every((s) => s.complete || keys(s).includes('default/db')), 'an incomplete snapshot lost specs');
});

test('a directory missing at start: an incomplete first snapshot, then its files once it appears', async (t) => {
  const h = await harness(t, undefined, { retryMs: 200 });
  assert.equal(h.snapshots.length, 1);
  assert.equal(h.last().complete, false);
  assert.deepEqual(h.last().specs, []);
  assert.equal(h.last().problems.length, 1);
  mkdirSync(h.dir);
  writeFileSync(join(h.dir, 'web.yaml'), spec('web'));
  const s = await h.until('the new directory', (x) => x.complete && keys(x).includes('default/web'));
  assert.deepEqual(s.problems, []);
});

test('a ConfigMap-style symlink swap, which no watch event names, is caught by the periodic re-listing', async (t) => {
  // kubelet mounts a ConfigMap as web.yaml -> ..data/web.yaml, ..data -> ..v1, and updates it
  // by pointing ..data at a new directory: only the hidden ..data changes.
  const h = await harness(t, (dir) => {
    mkdirSync(join(dir, '..v1'), { recursive: true });
    writeFileSync(join(dir, '..v1', 'web.yaml'), spec('web', 'v1'));
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'web.yaml'), join(dir, 'web.yaml'));
  }, { resyncMs: 200 });
  assert.equal(imageOf(h.last(), 'web'), 'v1');
  mkdirSync(join(h.dir, '..v2'));
  writeFileSync(join(h.dir, '..v2', 'web.yaml'), spec('web', 'v2'));
  symlinkSync('..v2', join(h.dir, '..data_tmp'));
  renameSync(join(h.dir, '..data_tmp'), join(h.dir, '..data'));
  await h.until('the swapped content', (s) => imageOf(s, 'web') === 'v2');
});

test('no snapshot after stop', async (t) => {
  const h = await harness(t, (dir) => mkdirSync(dir));
  // A witness watching the same directory shows when the change has had time to be seen.
  const witness = createDirectorySource({ dir: h.dir, log });
  let seen!: () => void;
  const witnessed = new Promise<void>((resolve) => (seen = resolve));
  await witness.start((s) => keys(s).includes('default/web') && seen());
  t.after(() => witness.stop());
  await h.source.stop();
  const count = h.snapshots.length;
  writeFileSync(join(h.dir, 'web.yaml'), spec('web'));
  await witnessed;
  assert.equal(h.snapshots.length, count);
});
