// Task logs end to end, with a real containerd and its runc shim running converge-logger
// (binary://): the CRI files are bounded on disk however much a container writes, a
// container writes on while converge is stopped, `converge logs` reads across rotations
// (--tail, --since, -f), stdout and stderr keep their streams; and a same-name conflict is
// logged once however often converge reads its specs again.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { cli, container, Env, MAIN, sh, sleeper, waitFor } from './util.js';
import { logFilesSync, logRecords } from '../harness/logs.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

const KiB = 1024;
const MAX_SIZE = 64 * KiB;
const MAX_FILES = 3;
const LOG_FLAGS = ['--log-max-size', '64Ki', '--log-max-files', String(MAX_FILES)];
/** A record longer than the rest of a file starts the next one: at most one line part (16 KiB) over. */
const SLACK = 17 * KiB;

/** Prints "n <i> <padding>" as fast as the shell can, and every 100th line to stderr too. */
const chatty = (pad = 'p'.repeat(100)) =>
  sh(`i=0; while :; do i=$((i+1)); echo "n $i ${pad}"; [ $((i % 100)) -eq 0 ] && echo "e $i" >&2; done`);

const totalSize = (file: string): number => logFilesSync(file).reduce((sum, f) => sum + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);
/** The highest line number in the log. */
const lastN = (file: string): number => {
  const rs = logRecords(file).filter((r) => r.stream === 'stdout' && r.text.startsWith('n '));
  return rs.length > 0 ? Number(rs.at(-1)!.text.split(' ')[1]) : 0;
};

describe('task logs', () => {
  it('keeps a chatty container bounded on disk, running, with its streams tagged', async (t) => {
    const s = await env.scenario(t, 'chatty');
    const c = await s.run(LOG_FLAGS);
    s.write('chatty.yaml', container('chatty', chatty()));
    const pid = await s.waitRunning('default.chatty', { converge: c });
    const file = s.runtime.logPath('default.chatty');
    const bound = MAX_SIZE * MAX_FILES + SLACK;
    // Ten times what the files hold has gone through them.
    const lines = Math.ceil((10 * bound) / 110);
    await waitFor(
      () => {
        const size = totalSize(file);
        assert.ok(size <= bound, `the log grew to ${size} bytes, over ${bound}`);
        return lastN(file) > lines;
      },
      { what: `${lines} lines through the log`, timeoutMs: 120_000, detail: () => `${logFilesSync(file).join(' ')}: ${totalSize(file)} bytes, up to n ${lastN(file)}` },
    );
    // (Read between a rotation's rename and its new file, the current one is missing for a moment.)
    await waitFor(() => logFilesSync(file).length === MAX_FILES, { what: 'max-files files', detail: () => logFilesSync(file).join(' ') });
    assert.ok(logFilesSync(file).length <= MAX_FILES);
    // The container writes on: a file listed a moment ago may have been rotated away since.
    for (const f of logFilesSync(file)) {
      const size = statSync(f, { throwIfNoEntry: false })?.size ?? 0;
      assert.ok(size <= MAX_SIZE + SLACK, `${f}: ${size} bytes`);
    }
    assert.equal(await s.waitRunning('default.chatty'), pid, 'the same task runs on');
    const records = logRecords(file);
    assert.ok(records.every((r) => (r.stream === 'stderr') === r.text.startsWith('e ')), 'stdout lines tagged stdout, stderr lines stderr');
    assert.ok(records.some((r) => r.stream === 'stderr'));
    assert.ok(records.every((r) => r.full), 'short lines are whole (F) records');
  });

  it('a container writes on while converge is stopped (SIGSTOP), and after it is gone', async (t) => {
    const s = await env.scenario(t, 'stopped');
    const c = await s.run(LOG_FLAGS);
    s.write('chatty.yaml', container('chatty', chatty()));
    await s.waitRunning('default.chatty', { converge: c });
    const file = s.runtime.logPath('default.chatty');
    await waitFor(() => lastN(file) > 0, { what: 'the first line' });
    process.kill(c.pid, 'SIGSTOP');
    try {
      const at = lastN(file);
      // Far more than a pipe holds (64 KiB): the output goes on without converge reading anything.
      const more = Math.ceil((4 * MAX_SIZE * MAX_FILES) / 110);
      await waitFor(() => lastN(file) > at + more, { what: `${more} more lines with converge stopped`, timeoutMs: 120_000, detail: () => `n ${lastN(file)}` });
    } finally {
      process.kill(c.pid, 'SIGCONT');
    }
    await c.stop();
    const at = lastN(file);
    await waitFor(() => lastN(file) > at + 1000, { what: 'more lines with converge gone', timeoutMs: 120_000 });
  });

  it('converge logs: --tail, --since and --timestamps across rotated files, -f across rotations', async (t) => {
    const s = await env.scenario(t, 'read');
    const c = await s.run(LOG_FLAGS);
    // About 20 KiB/s: a rotation every few seconds, slow enough for a follower to see every line.
    s.write('talk.yaml', container('talk', sh(`echo early; echo early-err >&2; i=0; while :; do i=$((i+1)); echo "n $i ${'q'.repeat(190)}"; usleep 10000; done`)));
    await s.waitRunning('default.talk', { converge: c });
    const file = s.runtime.logPath('default.talk');
    const perFile = Math.floor(MAX_SIZE / 240);

    // -f from now on: every line from its first to its last, across at least one rotation.
    const follow = spawn(process.execPath, [MAIN, 'logs', 'talk', '-f', '--tail', '0', '--state-dir', s.stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => follow.kill('SIGKILL'));
    let out = '';
    follow.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => follow.once('exit', (code) => resolve(code)));
    const seen = () => [...out.matchAll(/^n (\d+) q+$/gm)].map((m) => Number(m[1]));
    await waitFor(() => seen().length > 2 * perFile + 10, { what: 'logs -f to follow two files worth', timeoutMs: 120_000, detail: () => `${seen().length} lines seen` });
    follow.kill('SIGINT');
    assert.equal(await exited, 0);
    const numbers = seen();
    assert.deepEqual(numbers, numbers.map((_, i) => numbers[0] + i), 'no line lost or repeated across the rotations');
    assert.doesNotMatch(out, /early/, '--tail 0: nothing from before');

    const tail = await cli(['logs', 'talk', '--tail', '3', '--state-dir', s.stateDir]);
    assert.equal(tail.code, 0, tail.stderr);
    const last = tail.stdout.split('\n').filter(Boolean).map((l) => Number(l.split(' ')[1]));
    assert.equal(last.length, 3);
    assert.deepEqual(last, [last[0], last[0] + 1, last[0] + 2]);
    assert.doesNotMatch(tail.stdout, /^\d{4}-/m, 'no CRI prefix without --timestamps');

    const stamped = await cli(['logs', 'talk', '--tail', '2', '--timestamps', '--state-dir', s.stateDir]);
    assert.match(stamped.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z n \d+ q+\n\S+ n \d+ q+\n$/);

    // Everything is newer than an hour.
    const all = await cli(['logs', 'talk', '--since', '1h', '--state-dir', s.stateDir]);
    const allNumbers = all.stdout.split('\n').filter((l) => l.startsWith('n ')).map((l) => Number(l.split(' ')[1]));
    assert.ok(allNumbers.length > perFile, `${allNumbers.length} lines: the rotated files are read too`);
    assert.deepEqual(allNumbers, allNumbers.map((_, i) => allNumbers[0] + i), 'oldest file first, in order');
    const recent = await cli(['logs', 'talk', '--since', '1s', '--state-dir', s.stateDir]);
    const recentNumbers = recent.stdout.split('\n').filter((l) => l.startsWith('n ')).map((l) => Number(l.split(' ')[1]));
    assert.ok(recentNumbers.length < allNumbers.length, '--since leaves older lines out');
  });

  it('converge logs: stderr to stderr, from the first line, and a clear error for no log', async (t) => {
    const s = await env.scenario(t, 'streams');
    const c = await s.run(LOG_FLAGS);
    s.write('two.yaml', container('two', sh('echo out-1; echo err-1 >&2; echo out-2; trap "exit 0" TERM; sleep 3600 & wait')));
    await s.waitRunning('default.two', { converge: c });
    await waitFor(() => /out-2/.test(s.logOf('default.two')) && /err-1/.test(s.logOf('default.two')), { what: 'the three lines' });
    const res = await cli(['logs', 'default/two', '--state-dir', s.stateDir]);
    assert.equal(res.code, 0);
    assert.equal(res.stdout, 'out-1\nout-2\n');
    assert.equal(res.stderr, 'err-1\n');
    const missing = await cli(['logs', 'nothere', '--state-dir', s.stateDir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no logs for default\/nothere/);
  });

  it('logs a same-name conflict once, naming both files, however often the specs are read again', async (t) => {
    const s = await env.scenario(t, 'conflict');
    const c = await s.run();
    s.write('a.yaml', container('dup', sleeper('from-a')));
    await s.waitRunning('default.dup', { converge: c });
    s.write('b.yaml', container('dup', sleeper('from-b')));
    const line = await c.waitLog((l) => l.msg.startsWith('same-name conflict'), 'the conflict');
    assert.equal(line.level, 'warn');
    assert.match(String(line.file), /b\.yaml$/);
    assert.match(String(line.holder), /a\.yaml$/);
    // Each new file is a new read of the directory, with the conflict still in it.
    for (const name of ['x1', 'x2', 'x3']) {
      s.write(`${name}.yaml`, container(name, sleeper()));
      await s.waitRunning(`default.${name}`, { converge: c });
    }
    assert.equal(c.find((l) => l.msg.startsWith('same-name conflict')).length, 1, c.tail());
    s.remove('b.yaml');
    await c.waitLog((l) => l.msg === 'conflict or cycle resolved', 'the conflict gone');
  });
});
