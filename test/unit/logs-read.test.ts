// Task logs on converge's side: CRI records parsed and joined into lines, the files of a
// rotated log found in order, read from the start or the end (--since, --tail, the status
// page's tail), and followed across a rotation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LineJoiner, parseRecord, type LogRecord } from '../../src/logs/cri.js';
import { logFileOf, logFiles, rotationIndex } from '../../src/logs/files.js';
import { logUri } from '../../src/logs/driver.js';
import { closeLog, openLog, readLogTail, recordsForward, recordsTail } from '../../src/logs/read.js';
import { followLog } from '../../src/logs/follow.js';
import { waitFor } from '../harness/wait.js';

const rec = (time: string, stream: 'stdout' | 'stderr', full: boolean, text: string): string => `${time} ${stream} ${full ? 'F' : 'P'} ${text}\n`;

test('parseRecord reads the four fields and refuses what is not a record', () => {
  assert.deepEqual(parseRecord('2026-01-02T03:04:05.123456789Z stdout F hello world'), { time: '2026-01-02T03:04:05.123456789Z', stream: 'stdout', full: true, text: 'hello world' });
  assert.deepEqual(parseRecord('2026-01-02T03:04:05Z stderr P  two  spaces F x'), { time: '2026-01-02T03:04:05Z', stream: 'stderr', full: false, text: ' two  spaces F x' });
  assert.deepEqual(parseRecord('2026-01-02T03:04:05Z stdout F '), { time: '2026-01-02T03:04:05Z', stream: 'stdout', full: true, text: '' });
  for (const bad of ['', 'hello', '2026-01-02T03:04:05Z stdin F x', '2026-01-02T03:04:05Z stdout X x', '2026-01-02T03:04:05Z stdout F']) {
    assert.equal(parseRecord(bad), undefined, bad);
  }
});

test('LineJoiner joins P records with the F that ends them, per stream', () => {
  const j = new LineJoiner();
  const r = (stream: 'stdout' | 'stderr', full: boolean, text: string, time = 't1'): LogRecord => ({ time, stream, full, text });
  assert.equal(j.push(r('stdout', false, 'aa')), undefined);
  assert.deepEqual(j.push(r('stderr', true, 'err', 't2')), { time: 't2', stream: 'stderr', text: 'err' });
  assert.equal(j.push(r('stdout', false, 'bb', 't3')), undefined);
  assert.deepEqual(j.push(r('stdout', true, 'cc', 't4')), { time: 't1', stream: 'stdout', text: 'aabbcc' });
  j.push(r('stderr', false, 'cut'));
  assert.deepEqual(j.flush(), [{ time: 't1', stream: 'stderr', text: 'cut' }]);
  assert.deepEqual(j.flush(), []);
});

test('log files: the name per key, rotated files by index, oldest first', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'logs-files-'));
  try {
    const file = logFileOf(dir, 'default/web.v2');
    assert.equal(file, path.join(dir, 'logs', 'default.web.v2.log'));
    assert.deepEqual(await logFiles(file), [], 'no logs dir yet');
    mkdirSync(path.dirname(file));
    for (const n of ['default.web.v2.log', 'default.web.v2.log.1', 'default.web.v2.log.10', 'default.web.v2.log.2', 'default.web.v2.log.x', 'default.web.v2.log.01', 'default.web.log', 'other.log']) {
      writeFileSync(path.join(dir, 'logs', n), '');
    }
    assert.deepEqual((await logFiles(file)).map((f) => path.basename(f)), ['default.web.v2.log.10', 'default.web.v2.log.2', 'default.web.v2.log.1', 'default.web.v2.log']);
    assert.equal(rotationIndex('a.log', 'a.log'), 0);
    assert.equal(rotationIndex('a.log', 'a.log.3'), 3);
    assert.equal(rotationIndex('a.log', 'a.log.0'), -1);
    assert.equal(rotationIndex('a.log', 'b.log.1'), -1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('logUri: the binary as the path, each flag a query parameter, the path encoded', () => {
  const uri = logUri('/opt/my tools/converge-logger', '/var/lib/converge/logs/default.web.log', 1024 * 1024, 3);
  const u = new URL(uri);
  assert.equal(u.protocol, 'binary:');
  assert.equal(decodeURIComponent(u.pathname), '/opt/my tools/converge-logger');
  assert.equal(u.searchParams.get('--file'), '/var/lib/converge/logs/default.web.log');
  assert.equal(u.searchParams.get('--max-size'), '1048576');
  assert.equal(u.searchParams.get('--max-files'), '3');
  assert.equal(u.searchParams.get('--line-max'), '16384');
});

/** A log of 3 files: .2 (lines 0-999), .1 (1000-1999), current (2000-2999, then an unfinished record). */
function rotatedLog(dir: string): string {
  const file = logFileOf(dir, 'default/app');
  mkdirSync(path.dirname(file), { recursive: true });
  const t = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + i * 1000).toISOString();
  for (const [suffix, from] of [['.2', 0], ['.1', 1000], ['', 2000]] as const) {
    let text = '';
    for (let i = from; i < from + 1000; i++) {
      // Every 10th line in two parts, every 7th on stderr.
      const stream = i % 7 === 0 ? 'stderr' : 'stdout';
      text += i % 10 === 0 ? rec(t(i), stream, false, `line ${i} `) + rec(t(i), stream, true, `${'x'.repeat(100)}`) : rec(t(i), stream, true, `line ${i}`);
    }
    writeFileSync(file + suffix, text);
  }
  appendFileSync(file, `${t(3000)} stdout F unfinish`);
  return file;
}

test('reading a rotated log forward, from the end, and since a time', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'logs-read-'));
  try {
    const file = rotatedLog(dir);
    const files = await openLog(file);
    try {
      const all: LogRecord[] = [];
      for await (const r of recordsForward(files)) all.push(r);
      assert.equal(all.filter((r) => r.full).length, 3000, 'every line of every file, not the unfinished one');
      assert.equal(all[0].text, 'line 0 ');
      assert.equal(all.at(-1)!.text, 'line 2999');

      const tail = await recordsTail(files, 5);
      assert.deepEqual(tail.map((r) => r.text), ['line 2995', 'line 2996', 'line 2997', 'line 2998', 'line 2999']);
      const across = await recordsTail(files, 1002);
      assert.equal(across.filter((r) => r.full).length, 1002);
      assert.equal(across[0].text, 'line 1998', 'the tail reaches into the rotated file');
      const partial = await recordsTail(files, 10);
      assert.deepEqual(partial.slice(0, 2).map((r) => [r.full, r.text]), [[false, 'line 2990 '], [true, 'x'.repeat(100)]], 'a split line comes whole');
      assert.equal((await recordsTail(files, 100_000)).filter((r) => r.full).length, 3000);
      assert.deepEqual(await recordsTail(files, 0), []);

      const sinceMs = Date.UTC(2026, 0, 1, 0, 0, 0) + 2990 * 1000;
      const since: LogRecord[] = [];
      for await (const r of recordsForward(files, sinceMs)) since.push(r);
      assert.deepEqual(since.filter((r) => r.full).length, 10);
      assert.equal((await recordsTail(files, 100, sinceMs)).filter((r) => r.full).length, 10, 'tail and since together');
    } finally {
      await closeLog(files);
    }
    const lines = await readLogTail(dir, 'default', 'app', 4);
    assert.deepEqual(lines.map((l) => [l.stream, l.text]), [['stderr', 'line 2996'], ['stdout', 'line 2997'], ['stdout', 'line 2998'], ['stdout', 'line 2999']], 'each line with its stream');
    const split = await readLogTail(dir, 'default', 'app', 10);
    assert.deepEqual([split[0].stream, split[0].text], ['stdout', `line 2990 ${'x'.repeat(100)}`]);
    assert.deepEqual(await readLogTail(dir, 'default', 'none', 10), [], 'no log: no lines');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('following a log reads what is appended and goes on across a rotation', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'logs-follow-'));
  const stop = new AbortController();
  try {
    const file = logFileOf(dir, 'default/f');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, rec('t', 'stdout', true, 'before'));
    const seen: string[] = [];
    const following = followLog(file, undefined, (r) => void seen.push(r.text), stop.signal);
    await waitFor(() => seen.includes('before'), { what: 'the existing line' });
    appendFileSync(file, rec('t', 'stdout', true, 'one') + 't stdout F tw');
    await waitFor(() => seen.includes('one'), { what: 'the appended line' });
    appendFileSync(file, `o\n${rec('t', 'stderr', true, 'three')}`);
    // Rotation as the logger does it: rename, then a new file.
    renameSync(file, `${file}.1`);
    writeFileSync(file, rec('t', 'stdout', true, 'four'));
    await waitFor(() => seen.includes('four'), { what: 'the line of the new file', detail: () => JSON.stringify(seen) });
    assert.deepEqual(seen, ['before', 'one', 'two', 'three', 'four']);
  } finally {
    stop.abort();
    rmSync(dir, { recursive: true, force: true });
  }
});
