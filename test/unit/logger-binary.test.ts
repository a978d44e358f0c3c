// converge-logger (logger/, built by scripts/build-logger.sh) as containerd's shim runs it:
// the task's stdout on fd 3, stderr on fd 4, the ready pipe on fd 5, the URI's query as
// "name value" arguments in any order, CONTAINER_ID and CONTAINER_NAMESPACE as its only
// environment. The records it writes, the rotation and the bound on disk.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { defaultLoggerPath } from '../../src/logs/driver.js';
import { logFilesSync, logRecords } from '../harness/logs.js';
import { waitFor } from '../harness/wait.js';

const BIN = defaultLoggerPath();

interface Run {
  stdout: Writable;
  stderr: Writable;
  ready: Promise<Buffer>;
  exit: Promise<number | null>;
}

function start(args: string[]): Run {
  assert.ok(existsSync(BIN), `${BIN} is missing: build it with scripts/build-logger.sh`);
  const child = spawn(BIN, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe', 'pipe'], env: { CONTAINER_ID: 'default.x', CONTAINER_NAMESPACE: 'converge' } });
  const ready = new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    (child.stdio[5 as number] as unknown as Readable).on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks)));
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { stdout: child.stdio[3] as Writable, stderr: child.stdio[4] as Writable, ready, exit };
}

const end = (w: Writable, text = ''): Promise<void> => new Promise((resolve) => w.end(text, () => resolve()));

test('records: time, stream, F for a line, P for parts of a longer one; ready before any output', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'logger-'));
  try {
    const file = path.join(dir, 'c.log');
    // The order the shim passes them in is a map's: any.
    const run = start(['--line-max', '64', '--max-files', '2', '--file', file, '--max-size', '4096']);
    assert.deepEqual([...(await run.ready)], [1], 'one byte, then closed');
    await end(run.stderr, 'to stderr\n');
    await end(run.stdout, `first\n\n${'a'.repeat(150)}\nno newline at the end`);
    assert.equal(await run.exit, 0);
    const records = logRecords(file);
    for (const r of records) assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/, 'UTC, nine digits: times compare as text');
    const out = records.filter((r) => r.stream === 'stdout').map((r) => [r.full ? 'F' : 'P', r.text]);
    assert.deepEqual(out, [
      ['F', 'first'],
      ['F', ''],
      ['P', 'a'.repeat(64)],
      ['P', 'a'.repeat(64)],
      ['F', 'a'.repeat(22)],
      ['F', 'no newline at the end'],
    ]);
    assert.deepEqual(records.filter((r) => r.stream === 'stderr').map((r) => [r.full, r.text]), [[true, 'to stderr']]);
    assert.equal((statSync(file).mode & 0o777).toString(8), '640');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rotation keeps max-files files of at most max-size bytes, whole records each, the newest output last', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'logger-'));
  try {
    const file = path.join(dir, 'c.log');
    // Left by a run with a larger --max-files: removed at start.
    writeFileSync(`${file}.7`, 'old\n');
    const run = start(['--file', file, '--max-size', '8192', '--max-files', '3', '--line-max', '1024']);
    await run.ready;
    let text = '';
    for (let i = 0; i < 5000; i++) text += `line ${i}\n`;
    await end(run.stderr);
    await end(run.stdout, text);
    assert.equal(await run.exit, 0);
    const files = logFilesSync(file);
    assert.deepEqual(files.map((f) => path.basename(f)), ['c.log.2', 'c.log.1', 'c.log']);
    for (const f of files) {
      assert.ok(statSync(f).size <= 8192, `${f}: ${statSync(f).size} bytes`);
      assert.ok(readFileSync(f, 'utf8').endsWith('\n'));
    }
    const numbers = logRecords(file).map((r) => Number(r.text.split(' ')[1]));
    assert.equal(numbers.at(-1), 4999, 'the last line is kept');
    assert.deepEqual(numbers, numbers.map((_, i) => numbers[0] + i), 'consecutive across the files: nothing lost inside the window');
    assert.ok(numbers[0] > 0, 'the oldest output went');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('appends to the file a former task of the container wrote, and rotates it when full', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'logger-'));
  try {
    const file = path.join(dir, 'c.log');
    const before = `2026-01-01T00:00:00Z stdout F ${'o'.repeat(4050)}\n`;
    writeFileSync(file, before);
    const run = start(['--file', file, '--max-size', '4096', '--max-files', '2', '--line-max', '1024']);
    await run.ready;
    await end(run.stderr);
    await end(run.stdout, 'new\n');
    assert.equal(await run.exit, 0);
    assert.equal(readFileSync(`${file}.1`, 'utf8'), before, 'the full file rotated, not cut');
    assert.deepEqual(logRecords(file).slice(1).map((r) => r.text), ['new']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stderr is read while stdout floods: a stream that never runs dry does not hold the other back', async () => {
  // Real (blocking) pipes, as the shim makes them: yes floods stdout, while 20,000 lines
  // (about 160 KiB, more than a pipe holds) go to stderr through a FIFO. The writer of those
  // gets to its end only if the logger reads stderr meanwhile.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'logger-'));
  const script = `
    mkfifo "$D/err"
    ( i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo "e $i"; done > "$D/err" ) & writer=$!
    yes "${'y'.repeat(99)}" | "$BIN" --file "$D/c.log" --max-size 4194304 --max-files 2 3<&0 4<"$D/err" 5>/dev/null & logger=$!
    wait $writer
    kill $logger; wait $logger
    echo "logger exited $?"`;
  const sh = spawn('/bin/sh', ['-c', script], { env: { D: dir, BIN }, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  let out = '';
  sh.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exit = new Promise<number | null>((resolve) => sh.once('exit', (code) => resolve(code)));
  try {
    await waitFor(() => /logger exited/.test(out), { what: 'the stderr writer to finish while stdout floods', timeoutMs: 60_000 });
    assert.equal(await exit, 0);
    assert.match(out, /logger exited 0/, 'it ends on SIGTERM, with status 0');
  } finally {
    try {
      process.kill(-sh.pid!, 'SIGKILL');
    } catch {
      // all gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad arguments: still ready and still reading (a task never blocks on its logger), exit 2', async () => {
  const run = start(['--max-size', '10']);
  await run.ready;
  await end(run.stdout, 'x'.repeat(1 << 20));
  await end(run.stderr);
  assert.equal(await run.exit, 2);
});

test('converge run refuses to start without its logger, or with log bounds it cannot keep, and says why', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'logger-run-'));
  const main = path.resolve(import.meta.dirname, '../../src/cli/main.js');
  const run = (...flags: string[]) => spawnSync(process.execPath, [main, 'run', '--dir', dir, '--state-dir', path.join(dir, 'state'), ...flags], { encoding: 'utf8', timeout: 30_000 });
  try {
    const missing = run('--logger', path.join(dir, 'nope'));
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /task log driver .*nope is missing or not executable \(ENOENT\); build it with scripts\/build-logger\.sh .* or name it with --logger PATH/);
    const small = run('--log-max-size', '1Ki');
    assert.equal(small.status, 1);
    assert.match(small.stderr, /--log-max-size: must be at least 32Ki, got '1Ki'/);
    const files = run('--log-max-files', '0');
    assert.match(files.stderr, /--log-max-files: expected a whole number from 1 to 1000, got '0'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unfinished line (a prompt) goes as a P record once it has waited, and its end as F', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'logger-'));
  try {
    const file = path.join(dir, 'c.log');
    const run = start(['--file', file, '--max-size', '65536', '--max-files', '2']);
    await run.ready;
    run.stdout.write('prompt> ');
    // The task is still running and has written no newline: what it wrote shows anyway.
    await waitFor(() => existsSync(file) && logRecords(file).some((r) => r.text === 'prompt> '), { what: 'the held prompt in the log' });
    assert.deepEqual(logRecords(file).map((r) => [r.full, r.text]), [[false, 'prompt> ']]);
    await end(run.stdout, 'yes\n');
    await end(run.stderr);
    assert.equal(await run.exit, 0);
    assert.deepEqual(logRecords(file).map((r) => [r.full, r.text]), [[false, 'prompt> '], [true, 'yes']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
