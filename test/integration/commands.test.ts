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

  it('gives the command a terminal with -t, of the caller\'s size', async (t) => {
    const s = await env.scenario(t, 'exectty');
    await withWeb(s);
    // script(1) gives converge a pseudo-terminal of its own, 33 rows by 101 columns.
    const cmd = [process.execPath, MAIN, 'exec', '-t', '-i', 'web', ...flags(s), '--', '/bin/sh', '-c', 'tty; stty size; exit 5'].map((a) => `'${a}'`).join(' ');
    const res = await new Promise<CliResult>((resolve) => {
      const child = spawn('script', ['-qec', `stty rows 33 cols 101; ${cmd}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr: '' }));
    });
    assert.equal(res.code, 5, res.stdout);
    assert.match(res.stdout, /\/dev\/pts\/\d+\r*\n/);
    assert.match(res.stdout, /33 101\r*\n/);
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
