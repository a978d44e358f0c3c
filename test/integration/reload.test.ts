// End to end: `converge run --config FILE` and SIGHUP against a real containerd. A second
// directory added to the file starts its container and leaves the first one's task alone;
// a broken file is reported and changes nothing; a log level and a removed directory take
// effect (its container is removed, as a deleted file's would be); a setting that cannot
// change in a running process says it needs a restart.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli, container, Env, sleeper, writeSpec } from './util.js';

let env: Env;
before(async () => {
  env = await Env.start();
});
after(async () => {
  await env?.cleanup();
});

describe('converge run --config and SIGHUP', () => {
  it('applies an added dir, keeps a broken config out, changes the log level and removes a dropped dir\'s containers', async (t) => {
    const s = await env.scenario(t, 'reload');
    const second = path.join(s.dir, 'more');
    mkdirSync(second);
    const config = path.join(s.dir, 'converge.yaml');
    // Relative paths are the file's: "specs" is s.specDir.
    writeFileSync(config, 'dir: [specs]\nlog-level: info\nworkers: 4\n');
    s.write('a.yaml', container('a', sleeper()));
    writeSpec(second, 'b.yaml', container('b', sleeper()));

    const c = await s.run(['--config', config], []);
    const pid = await s.waitRunning('default.a', { converge: c });
    await c.waitReady();
    assert.equal(await s.get('default.b'), undefined, 'the second dir is not read yet');
    assert.deepEqual(c.find((l) => l.level === 'debug' || l.level === 'trace'), [], 'nothing below info is logged at info');

    writeFileSync(config, 'dir: [specs, more]\nlog-level: info\nworkers: 4\n');
    let since = c.lines.length;
    c.child.kill('SIGHUP');
    const reread = await c.waitLog((l) => l.msg === 'config re-read', 'the re-read', { since });
    assert.deepEqual(reread.changed, ['--dir']);
    const pidB = await s.waitRunning('default.b', { converge: c });
    assert.equal((await s.get('default.a'))?.task?.pid, pid, 'the first dir\'s container kept its task');
    assert.deepEqual(c.actions('default/a').map((l) => l.action), ['create']);

    writeFileSync(config, 'dir: [specs]\nlog-level: loud\nworkers: 4\n');
    since = c.lines.length;
    c.child.kill('SIGHUP');
    const refused = await c.waitLog((l) => l.msg === 'config not re-read: keeping the one in force', 'the refusal', { since });
    assert.match(String(refused.problems), /converge\.yaml: line 2: log-level: must be one of fatal, error, warn, info, debug, trace, silent/);
    assert.ok(c.running);
    assert.equal(c.find((l) => l.msg === 'config re-read', since).length, 0);
    assert.equal((await s.get('default.b'))?.task?.pid, pidB, 'the broken config removed nothing');

    writeFileSync(config, 'dir: [specs]\nlog-level: debug\nworkers: 2\n');
    since = c.lines.length;
    c.child.kill('SIGHUP');
    const applied = await c.waitLog((l) => l.msg === 'config re-read', 'the second re-read', { since });
    assert.deepEqual(applied.changed, ['--log-level', '--dir']);
    const restart = c.find((l) => l.msg === 'settings changed that need a restart; ignored until converge restarts', since);
    assert.deepEqual(restart.map((l) => l.settings), [['--workers']]);
    await s.waitGone('default.b');
    assert.equal((await s.get('default.a'))?.task?.pid, pid, 'still the first task');

    // Debug lines now come from loggers made at the start (the directory source, the runtime).
    s.write('c.yaml', container('c', sleeper()));
    await s.waitRunning('default.c', { converge: c });
    await c.waitLog((l) => l.level === 'debug' && l.msg === 'container created' && l.key === 'default/c', 'a debug line', { since });
    await c.stop();

    // plan reads the same file for its sources: with the second dir back in, b is missing.
    writeFileSync(config, 'dir: [specs, more]\nlog-level: debug\nworkers: 2\n');
    const plan = await cli(['plan', '--config', config, '--containerd-address', env.address, '--namespace', s.namespace, '--state-dir', s.stateDir]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.equal(plan.stdout, 'create   default/b: missing\n');
  });
});
