// The conventions every command keeps, checked by running the built CLI: --help and -h
// print the command's usage on stdout and exit 0; an unknown flag is a usage error (exit 2,
// the message on stderr); `converge version` and `--version` say package.json's version,
// which is also what the registry client sends as its User-Agent. New commands in
// commands.ts are covered by being there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { COMMANDS } from '../../src/cli/commands.js';
import { RegistryClient } from '../../src/pull/registry.js';
import { USER_AGENT, VERSION } from '../../src/version.js';

const MAIN = path.resolve(import.meta.dirname, '../../src/cli/main.js');
const root = path.resolve(import.meta.dirname, '../../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // An empty state dir: nothing is read from a controller that happens to run here.
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, HOME: '/nonexistent' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

for (const name of Object.keys(COMMANDS)) {
  test(`converge ${name} --help / -h: its usage on stdout, exit 0; a bogus flag: exit 2 with the message on stderr`, async () => {
    for (const flag of ['--help', '-h']) {
      const help = await cli([name, flag]);
      assert.equal(help.code, 0, help.stderr);
      assert.equal(help.stderr, '');
      assert.ok(help.stdout.startsWith(`usage: converge ${name}`), help.stdout);
    }
    const bogus = await cli([name, '--no-such-flag']);
    assert.equal(bogus.code, 2, bogus.stderr);
    assert.equal(bogus.stdout, '');
    assert.match(bogus.stderr, /--no-such-flag/);
  });
}

test('converge help NAME is that command\'s usage; no command at all is a usage error', async () => {
  const help = await cli(['help', 'plan']);
  assert.equal(help.code, 0);
  assert.equal(help.stdout, COMMANDS.plan.usage);
  const overview = await cli(['--help']);
  for (const name of Object.keys(COMMANDS)) assert.match(overview.stdout, new RegExp(`^  ${name} `, 'm'));
  const none = await cli([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /usage: converge <command>/);
});

test('usage errors exit 2: a missing argument, a bad value, an unknown -o', async () => {
  for (const args of [['validate'], ['run'], ['run', '--dir', '/x', '--workers', 'many'], ['status', '-o', 'yaml'], ['plan'], ['crd', 'extra']]) {
    const res = await cli(args);
    assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`);
    assert.notEqual(res.stderr, '');
    assert.equal(res.stdout, '');
  }
  assert.match((await cli(['status', '-o', 'yaml'])).stderr, /-o: expected one of table, json, got 'yaml'/);
});

test('converge version and --version print package.json\'s version; the registry User-Agent carries it', async () => {
  assert.equal(VERSION, pkg.version);
  for (const args of [['version'], ['--version']]) {
    const res = await cli(args);
    assert.equal(res.code, 0);
    assert.equal(res.stdout, `converge ${pkg.version}\n`);
  }
  assert.equal(USER_AGENT, `converge/${pkg.version}`);
  assert.equal(new RegistryClient({ credentials: { get: async () => undefined } as never }).userAgent, `converge/${pkg.version}`);
});
