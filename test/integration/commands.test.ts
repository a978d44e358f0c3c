// End to end, against a real containerd: `converge exec` (stdout, stderr, exit code, piped
// stdin, a terminal with -t), `converge restart` (through the controller and without one)
// and `converge stats`.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, container, Env, MAIN, sh, sleeper, waitFor, type CliResult, type Scenario } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

/** test/harness/pty.py, from dist/test/integration/. */
const PTY = path.resolve(import.meta.dirname, '../../../test/harness/pty.py');

const flags = (s: Scenario): string[] => ['--containerd-address', s.env.address, '--namespace', s.namespace, '--state-dir', s.stateDir];

/** A converge command with `input` on its stdin. */
function cliWithInput(args: string[], input: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** A scenario with one running container `web` (a controller started it, then stopped). */
async function withWeb(s: Scenario, body = sleeper()): Promise<number> {
  const c = await s.run();
  s.write('web.yaml', container('web', body));
  const pid = await s.waitRunning('default.web', { converge: c });
  await c.stop();
  return pid;
}

describe('converge exec', () => {
  it('passes stdout and stderr apart, exits with the command\'s code, and leaves no process or FIFO behind', async (t) => {
    const s = await env.scenario(t, 'exec');
    await withWeb(s, { ...sleeper(), env: [{ name: 'GREETING', value: 'hi' }], workingDir: '/tmp' });
    const res = await cli(['exec', 'web', ...flags(s), '--', '/bin/sh', '-c', 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3']);
    assert.equal(res.code, 3, res.stderr);
    assert.equal(res.stdout, 'hi from /tmp\n');
    assert.equal(res.stderr, 'oops\n');
    const ok = await cli(['exec', 'default/web', ...flags(s), '--', 'true']);
    assert.equal(ok.code, 0, ok.stderr);
    // Nothing left: the exec processes are deleted (ps shows the init process only), the FIFOs gone.
    const ps = (await s.ctr(['tasks', 'ps', 'default.web'])).trim().split('\n').slice(1);
    assert.equal(ps.length, 2, ps.join('\n')); // sh and its sleep
    assert.deepEqual(readdirSync(path.join(s.stateDir, 'exec')), []);
  });

  it('pipes stdin with -i, and ends it so the command sees end of file', async (t) => {
    const s = await env.scenario(t, 'execin');
    await withWeb(s);
    const res = await cliWithInput(['exec', '-i', 'web', ...flags(s), '--', '/bin/sh', '-c', 'wc -l; echo done'], 'a\nb\nc\n');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.replace(/[ \t]+/g, ''), '3\ndone\n');
  });

  it('gives the command a terminal with -t, of the caller\'s size, and follows the caller\'s resizes', async (t) => {
    const s = await env.scenario(t, 'exectty');
    await withWeb(s);
    // pty.py runs converge on a terminal of 33 rows by 101 columns, and makes it 40 by 120 once
    // the command has printed its first size; the command waits for the change and prints it.
    const script = 'tty; stty size; while [ "$(stty size)" = "33 101" ]; do sleep 0.05; done; stty size; exit 5';
    const res = await new Promise<CliResult>((resolve) => {
      // A terminal that is never resized would hold the command forever: a bound, to fail rather than hang.
      const child = spawn('python3', [PTY, '33 101', process.execPath, MAIN, 'exec', '-t', '-i', 'web', ...flags(s), '--', '/bin/sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 90_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
    assert.equal(res.code, 5, res.stdout + res.stderr);
    // The terminal's output processing adds a \r before each \n, on each of the two terminals.
    assert.match(res.stdout, /^\/dev\/pts\/\d+\r*\n33 101\r*\n40 120\r*\n$/);
  });

  it('on Ctrl-C kills the command and deletes the exec process', async (t) => {
    const s = await env.scenario(t, 'execint');
    await withWeb(s);
    const processes = async (): Promise<number> => (await s.ctr(['tasks', 'ps', 'default.web'])).trim().split('\n').length - 1;
    const before = await processes();
    const child = spawn(process.execPath, [MAIN, 'exec', 'web', ...flags(s), '--', '/bin/sh', '-c', 'echo started; exec sleep 3600'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('started'), { what: 'the exec command to run' });
    assert.equal(await processes(), before + 1);
    child.kill('SIGINT');
    assert.equal(await exited, 137); // SIGKILLed: 128 + 9, as containerd reports it
    assert.equal(await processes(), before);
    assert.deepEqual(readdirSync(path.join(s.stateDir, 'exec')), []);
  });

  it('says what is wrong: a command that does not exist (127), a container without a task, usage (2)', async (t) => {
    const s = await env.scenario(t, 'execbad');
    await withWeb(s);
    const missing = await cli(['exec', 'web', ...flags(s), '--', '/no/such/command']);
    assert.equal(missing.code, 127, missing.stdout + missing.stderr);
    assert.match(missing.stderr, /no such file|not found/i);
    const none = await cli(['exec', 'nothere', ...flags(s), '--', 'true']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /default\.nothere/);
    const usage = await cli(['exec', 'web', ...flags(s)]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: converge exec/);
    const help = await cli(['exec', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /usage: converge exec/);
  });
});

describe('converge restart', () => {
  it('through the controller: a new task after the stop signal, counted as a restart; without one: the same against containerd', async (t) => {
    const s = await env.scenario(t, 'restart');
    const c = await s.run(['--backoff-initial', '50ms']);
    s.write('web.yaml', container('web', { ...sleeper(), restartPolicy: 'Never' }));
    const first = await s.waitRunning('default.web', { converge: c });
    const res = await cli(['restart', 'web', ...flags(s)]);
    assert.equal(res.code, 0, res.stdout + res.stderr + c.tail());
    assert.match(res.stdout, new RegExp(`^default/web: restarted \\(pid ${first} -> \\d+, restarts 1\\)`));
    const row = await c.waitRow('web', (r) => r.phase === 'Running' && r.restarts === 1 && r.pid !== first, 'running again, 1 restart');
    assert.equal(row.pid, await s.waitRunning('default.web', { notPid: first }));
    assert.equal((await s.get('default.web'))?.restarts, 1);
    // The stop went the spec's way: SIGTERM, which the script answers by exiting 0 at once.
    assert.ok(c.find((l) => l.msg === 'applying action' && l.action === 'kill' && l.reason === 'restart requested').length === 1, c.tail());
    const unknown = await cli(['restart', 'nothere', ...flags(s)]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no container default\/nothere/);
    await c.stop();

    const second = row.pid!;
    const direct = await cli(['restart', 'default/web', ...flags(s)]);
    assert.equal(direct.code, 0, direct.stderr);
    assert.match(direct.stdout, /restarted without a controller .* restarts 2\)/);
    const third = await s.waitRunning('default.web', { notPid: second });
    assert.notEqual(third, second);
    assert.equal((await s.get('default.web'))?.restarts, 2);
    // A new controller adopts it as it is: nothing restarted, the count kept.
    const again = await s.run();
    await again.waitReady();
    assert.equal((await again.waitRow('web', (r) => r.phase === 'Running', 'Running')).restarts, 2);
    assert.deepEqual(again.actions('default/web'), []);
  });
});

describe('converge stats', () => {
  it('shows CPU and memory of a busy container, from the host\'s cgroup version', async (t) => {
    const s = await env.scenario(t, 'stats');
    const c = await s.run();
    s.write('busy.yaml', container('busy', { ...sh('while :; do :; done'), resources: { limits: { memory: '64Mi' } } }));
    s.write('idle.yaml', container('idle', sleeper()));
    await s.waitRunning('default.busy', { converge: c });
    await s.waitRunning('default.idle', { converge: c });
    const res = await cli(['stats', 'busy', ...flags(s), '--no-stream', '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    const rows = JSON.parse(res.stdout) as Array<{ name: string; cpuPercent: number; cpuSeconds: number; memoryBytes: number; memoryLimitBytes: number | null; cgroup: number }>;
    assert.deepEqual(rows.map((r) => r.name), ['busy']);
    const [busy] = rows;
    assert.ok(busy.cpuPercent > 5, `a busy loop uses CPU: ${JSON.stringify(busy)}`);
    assert.ok(busy.cpuSeconds > 0);
    assert.ok(busy.memoryBytes > 0);
    assert.equal(busy.memoryLimitBytes, 64 * 1024 * 1024);
    assert.equal(busy.cgroup, cgroupVersion());
    const table = await cli(['stats', ...flags(s), '--no-stream']);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^NAMESPACE\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %$/);
    assert.match(lines[1], /^default\s+busy\s+\d+\.\d\d%\s+[\d.]+[KM]iB \/ 64\.0MiB\s+\d+\.\d\d%$/);
    assert.match(lines[2], /^default\s+idle\s+\d+\.\d\d%\s+[\d.]+[KM]?i?B \/ -\s+-$/);
    const bad = await cli(['stats', ...flags(s), '-o', 'yaml']);
    assert.equal(bad.code, 2);
    const none = await cli(['stats', 'nothere', ...flags(s), '--no-stream']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no running task for default\/nothere/);
  });
});

/** 2 on a unified (v2) hierarchy, else 1. */
function cgroupVersion(): number {
  try {
    return readdirSync('/sys/fs/cgroup').includes('cgroup.controllers') ? 2 : 1;
  } catch {
    return 1;
  }
}
