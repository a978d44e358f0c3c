// Property-based fuzzing of the spec loader: generated spec documents (valid, and mutated
// with wrong types, odd keys and deep nesting), pathological YAML, bytes that are not UTF-8
// and special files, through loadFile, readSpecFile and `converge validate`. Whatever comes
// in: nothing throws, every problem names its file, and every problem prints as one line
// with no raw control characters. A hang fails by the test's timeout; nothing here reads a
// clock. The seed is fixed so that a failure replays: set CONVERGE_FUZZ_SEED to try others.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { InvalidUtf8Error, SpecError } from '../../src/spec/errors.js';
import { formatProblem, loadFile, readSpecFile, type LoadResult } from '../../src/spec/load.js';
import { oneLine } from '../../src/spec/quote.js';
import { decodeSpecText } from '../../src/spec/read.js';
import { nastyString, nearlyUtf8, pathologicalYaml, specFile } from './fuzz-arbitraries.js';
import { mkfifo, releaseFifos, validate } from './specfiles.js';

const SEED = Number(process.env.CONVERGE_FUZZ_SEED ?? 20_260_611);
fc.configureGlobal({ seed: SEED, numRuns: 300 });

const root = mkdtempSync(join(tmpdir(), 'converge-fuzz-'));
after(() => {
  releaseFifos();
  rmSync(root, { recursive: true, force: true });
});
let dirs = 0;
const freshDir = () => {
  const dir = join(root, String(dirs++));
  mkdirSync(dir);
  return dir;
};

/** Characters no problem line may carry raw (the same classes quote() escapes). */
const RAW = /[\p{Cc}\p{Cf}\p{Co}\p{Zl}\p{Zp}]|\p{Cs}/u;
/** No line is longer than its file name plus a bounded path and message. */
const MAX_LINE_BEYOND_FILE = 2 * 1000 + 100;

/** One problem line of `file`: one line, nothing raw, bounded, and naming the file first. */
function assertProblemLine(line: string, file: string): void {
  assert.ok(!RAW.test(line), `raw control character in ${JSON.stringify(line.slice(0, 300))}`);
  const shown = oneLine(file, Infinity);
  assert.ok(line.startsWith(`${shown}: `), `does not name ${JSON.stringify(shown)}: ${JSON.stringify(line.slice(0, 300))}`);
  assert.ok(line.length <= shown.length + MAX_LINE_BEYOND_FILE, `line of ${line.length} characters`);
}

function assertSound(path: string, result: LoadResult): void {
  assert.ok(Array.isArray(result.specs) && Array.isArray(result.problems));
  for (const p of result.problems) {
    assert.equal(p.file, path);
    assertProblemLine(formatProblem(p), path);
  }
  for (const s of result.specs) assert.match(s.key, /^[a-z0-9-]+\/[a-z0-9-]+$/);
}

test(`property: generated and mutated spec documents load without throwing, every problem one clean line (seed ${SEED})`, { timeout: 60_000 }, () => {
  fc.assert(
    fc.property(specFile, ({ path, text }) => {
      assertSound(path, loadFile(path, text));
    }),
  );
});

test(`property: valid documents load as one container each, with no problem (seed ${SEED})`, { timeout: 60_000 }, () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/), fc.constantFrom('block' as const, 'flow' as const), (name, style) => {
      const text = style === 'flow'
        ? JSON.stringify({ apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name }, spec: { image: 'busybox' } })
        : `apiVersion: converge.dev/v1alpha1\nkind: Container\nmetadata:\n  name: ${name}\nspec:\n  image: busybox\n`;
      const result = loadFile('ok.yaml', text);
      assert.deepEqual(result.problems, []);
      assert.deepEqual(result.specs.map((s) => s.key), [`default/${name}`]);
    }),
    { numRuns: 50 },
  );
});

test(`property: pathological YAML (alias bombs, deep nesting, huge scalars, token soup, random text) never throws (seed ${SEED})`, { timeout: 60_000 }, () => {
  fc.assert(
    fc.property(pathologicalYaml, fc.constantFrom('p.yaml', 'p.json'), (text, path) => {
      assertSound(path, loadFile(path, text));
    }),
  );
});

test(`property: a file over the size limit is one problem naming the limit (seed ${SEED})`, { timeout: 60_000 }, () => {
  fc.assert(
    fc.property(pathologicalYaml, fc.integer({ min: 0, max: 200 }), (text, maxBytes) => {
      const result = loadFile('big.yaml', text, { maxBytes });
      assertSound('big.yaml', result);
      if (Buffer.byteLength(text) > maxBytes) {
        assert.equal(result.problems.length, 1);
        assert.match(result.problems[0].message, new RegExp(`more than the limit of ${maxBytes} bytes`));
      }
    }),
  );
});

test(`property: keys of any text make problems of one line that name the key escaped (seed ${SEED})`, { timeout: 60_000 }, () => {
  fc.assert(
    fc.property(nastyString, fc.constantFrom('metadata', 'spec', 'top'), fc.boolean(), (key, where, json) => {
      const doc: Record<string, any> = { apiVersion: 'converge.dev/v1alpha1', kind: 'Container', metadata: { name: 'web' }, spec: { image: 'busybox' } };
      Object.defineProperty(where === 'top' ? doc : doc[where], key, { value: 1, enumerable: true });
      const path = json ? 'k.json' : 'k.yaml';
      const result = loadFile(path, JSON.stringify(doc));
      assertSound(path, result);
      const known = ['apiVersion', 'kind', 'metadata', 'spec', 'name', 'image'];
      if (!known.includes(key)) assert.ok(result.problems.length > 0, `key ${JSON.stringify(key)} was accepted`);
    }),
  );
});

test(`property: bytes decode strictly, or fail naming the first bad byte and its line (seed ${SEED})`, { timeout: 60_000 }, () => {
  fc.assert(
    fc.property(nearlyUtf8, (bytes) => {
      if (isUtf8(bytes)) {
        assert.equal(decodeSpecText(bytes), new TextDecoder().decode(bytes));
        return;
      }
      assert.throws(() => decodeSpecText(bytes), (err: unknown) => {
        assert.ok(err instanceof InvalidUtf8Error);
        assert.ok(isUtf8(bytes.subarray(0, err.offset)), `bytes before offset ${err.offset} are not all valid`);
        assert.ok(!isUtf8(bytes.subarray(0, Math.min(bytes.length, err.offset + 4))), `no bad sequence at offset ${err.offset}`);
        assert.equal(err.line, 1 + bytes.subarray(0, err.offset).filter((b) => b === 0x0a).length);
        return true;
      });
    }),
    { numRuns: 500 },
  );
});

test(`property: files of generated bytes and text, read from disk and validated (seed ${SEED})`, { timeout: 60_000 }, async () => {
  const content = fc.oneof(
    nearlyUtf8.map((b) => Buffer.from(b)),
    specFile.map((f) => Buffer.from(f.text)),
    pathologicalYaml.map((t) => Buffer.from(t)),
  );
  const name = fc.oneof(fc.stringMatching(/^[a-z]{1,8}\.(yaml|yml|json)$/), fc.constantFrom('a\nb.yaml', 'x\u001b[2J.yaml', 'é\u202e.json', 'tab\tname.yml'));
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(fc.tuple(name, content), { minLength: 1, maxLength: 3, selector: ([n]) => n }), async (files) => {
      const dir = freshDir();
      for (const [n, bytes] of files) writeFileSync(join(dir, n), bytes);
      for (const [n] of files) {
        const path = join(dir, n);
        let text: string | undefined;
        try {
          text = await readSpecFile(path);
        } catch (err) {
          assert.ok(err instanceof SpecError, `readSpecFile threw ${String(err)}`);
        }
        if (text !== undefined) assertSound(path, loadFile(path, text));
      }
      const res = await validate([dir]);
      assertValidateOutput(res, files.map(([n]) => join(dir, n)));
      rmSync(dir, { recursive: true, force: true });
    }),
    { numRuns: 60 },
  );
});

/** validate's output: problem lines of the given files, then the summary, and the exit code to match. */
function assertValidateOutput(res: { code: number; lines: string[] }, files: string[]): void {
  const summary = res.lines[res.lines.length - 1];
  const m = /^(\d+) files? checked, \d+ containers?, (\d+) problems?$/.exec(summary);
  assert.ok(m, `summary: ${JSON.stringify(summary)}`);
  const problems = res.lines.slice(0, -1);
  assert.equal(problems.length, Number(m[2]));
  assert.equal(res.code, problems.length > 0 ? 1 : 0);
  for (const line of problems) {
    const file = files.find((f) => line.startsWith(`${oneLine(f, Infinity)}: `));
    assert.ok(file !== undefined, `names none of the files: ${JSON.stringify(line.slice(0, 300))}`);
    assertProblemLine(line, file);
  }
}

type Special = 'fifo' | 'directory' | 'dev-null' | 'symlink-to-fifo' | 'symlink-to-directory' | 'symlink-to-dev-null';

/** Makes a special file named `name` in `dir`; returns its path. */
function makeSpecial(dir: string, name: string, kind: Special): string {
  const path = join(dir, name);
  if (kind === 'fifo') mkfifo(path);
  else if (kind === 'directory') mkdirSync(path);
  else if (kind === 'dev-null') symlinkSync('/dev/null', path); // /dev/null itself, by a name in dir
  else if (kind === 'symlink-to-fifo') symlinkSync(mkfifo(join(dir, `.target-${name}`)), path);
  else if (kind === 'symlink-to-directory') mkdirSync(join(dir, `.target-${name}`)), symlinkSync(join(dir, `.target-${name}`), path);
  else symlinkSync('/dev/null', path);
  return path;
}

test(`property: FIFOs, directories, devices and symlinks to them are refused at once, never waited on (seed ${SEED})`, { timeout: 30_000 }, async () => {
  const kinds: Special[] = ['fifo', 'directory', 'dev-null', 'symlink-to-fifo', 'symlink-to-directory', 'symlink-to-dev-null'];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...kinds), fc.stringMatching(/^[a-z]{1,8}\.(yaml|yml|json)$/), fc.boolean(), async (kind, name, viaDirectory) => {
      const dir = freshDir();
      const path = makeSpecial(dir, name, kind);
      await assert.rejects(readSpecFile(path), (err: unknown) => err instanceof SpecError && err.code === 'NotRegularFile' && /, not a regular file$/.test(err.message));
      const res = await validate([viaDirectory ? dir : path]);
      assertValidateOutput(res, [path]);
      // A directory named on the command line is a directory of specs, and one inside a
      // directory is skipped, as the directory source skips it (a symlink to one is not:
      // it is named like a spec file). Everything else is one problem.
      const skipped = kind === 'directory' || (kind === 'symlink-to-directory' && !viaDirectory);
      assert.equal(res.lines.length - 1, skipped ? 0 : 1, res.lines.join('\n'));
      releaseFifos();
      rmSync(dir, { recursive: true, force: true });
    }),
    { numRuns: 40 },
  );
  assert.ok((await validate(['/dev/null'])).lines[0] === '/dev/null: is a character device, not a regular file');
});
