// `converge run --config FILE`: the schema is run's option table (every long flag a key,
// every key a flag, the committed schemas/config.schema.json equal to what the table
// makes), errors name the file, line, key and what was expected, unknown keys are errors,
// the file is read bounded, flags beat the file and the file beats the defaults.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, configSchema, loadConfigFile, parseConfig } from '../../src/cli/config.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { COMMAND_LINE_ONLY, CONFIG_SHAPES, RELOADABLE, RUN_FLAGS, liveSettings, mergeValues, parseRunFlags } from '../../src/cli/run-flags.js';
import { formatProblem } from '../../src/spec/load.js';
import { schemaPath } from '../../src/spec/schema.js';

const longFlags = Object.keys(RUN_FLAGS).filter((f) => !(COMMAND_LINE_ONLY as readonly string[]).includes(f)).sort();

test('every long flag of run is a config key and every config key a flag of run', () => {
  const committed = JSON.parse(readFileSync(schemaPath('config.schema.json'), 'utf8')) as { properties: Record<string, unknown> };
  assert.deepEqual(Object.keys(committed.properties).sort(), longFlags);
  assert.deepEqual(committed, configSchema(), 'schemas/config.schema.json is what run-flags.ts makes: regenerate it from configSchema()');
  for (const key of [...Object.keys(CONFIG_SHAPES), ...RELOADABLE]) assert.ok(key in RUN_FLAGS, `${key} is a flag of run`);
});

test('run --help names every long flag of run', () => {
  const usage = COMMANDS.run.usage;
  assert.deepEqual(longFlags.filter((f) => !usage.includes(`--${f}`)), []);
  assert.ok(usage.includes('--config'));
});

function problemsOf(text: string, file = 'converge.yaml'): string[] {
  try {
    parseConfig(file, text);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map(formatProblem);
  }
  assert.fail('expected a ConfigError');
}

test('a bad config names the file, the line, the key and what was expected; unknown keys are errors', () => {
  const problems = problemsOf('dir: [specs]\nlog-level: loud\nworkers: 0\ndirs: [x]\nresync: soon\nkube: "yes"\nmax-image-size: lots\n');
  assert.deepEqual(problems.sort(), [
    "converge.yaml: line 2: log-level: must be one of fatal, error, warn, info, debug, trace, silent",
    'converge.yaml: line 3: workers: must be >= 1',
    "converge.yaml: line 4: unknown field 'dirs' (did you mean 'dir'?)",
    'converge.yaml: line 5: resync: must be a duration such as 250ms, 10s, 5m or 1h (or a number of seconds)',
    'converge.yaml: line 6: kube: must be true or false',
    'converge.yaml: line 7: max-image-size: must be a quantity of bytes such as 64Mi, 1G or 1048576',
  ].sort());
  assert.deepEqual(problemsOf('- a\n- b\n'), ['converge.yaml: line 1: must be a mapping (a config document)']);
  assert.deepEqual(problemsOf('dir: a\n---\ndir: b\n'), ['converge.yaml: must hold one mapping of flag names to values, found 2 documents']);
  assert.match(problemsOf('dir: [a\n')[0], /^converge\.yaml: line \d+: /);
  assert.deepEqual(problemsOf('config: other.yaml\n'), ["converge.yaml: line 1: unknown field 'config'"]);
});

test('values come out as the flags take them: numbers as text, a single path as a list, paths relative to the file', () => {
  const values = parseConfig('/etc/converge/converge.yaml', 'dir: specs\nworkers: 4\nresync: 30\npolicy: ../policy.yaml\nkube: false\nnamespace: edge\n');
  assert.deepEqual(values, { dir: ['/etc/converge/specs'], workers: '4', resync: '30', policy: '/etc/policy.yaml', kube: false, namespace: 'edge' });
  assert.deepEqual(parseConfig('c.yaml', '# nothing set\n'), {});
});

test('flags on the command line win over the file, the file over the defaults, and lists are replaced, not joined', () => {
  const { values, given } = parseRunFlags(['--dir', '/cli', '--workers', '2']);
  const merged = mergeValues(values, given, { dir: ['/file'], workers: '3', resync: '5s', 'log-level': 'debug' });
  assert.deepEqual(merged.dir, ['/cli']);
  assert.equal(merged.workers, '2');
  assert.equal(merged.resync, '5s');
  assert.equal(merged['log-level'], 'debug');
  assert.equal(merged.snapshotter, 'overlayfs', 'a default neither names');
  assert.equal(liveSettings(merged).logLevel, 'debug');
});

test('the file is read like a spec file: bounded, a regular file only, strict UTF-8', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'converge-config-'));
  const big = path.join(dir, 'big.yaml');
  writeFileSync(big, `# ${'x'.repeat(300 * 1024)}\n`);
  await assert.rejects(loadConfigFile(big), (err: ConfigError) => /too large|bytes/.test(formatProblem(err.problems[0])));
  const fifo = path.join(dir, 'fifo.yaml');
  execFileSync('mkfifo', [fifo]);
  await assert.rejects(loadConfigFile(fifo), (err: ConfigError) => /a FIFO/.test(formatProblem(err.problems[0])));
  const latin1 = path.join(dir, 'latin1.yaml');
  writeFileSync(latin1, Buffer.from([0x64, 0x69, 0x72, 0x3a, 0x20, 0xe9, 0x0a]));
  await assert.rejects(loadConfigFile(latin1), (err: ConfigError) => /UTF-8/.test(formatProblem(err.problems[0])));
  await assert.rejects(loadConfigFile(path.join(dir, 'missing.yaml')), (err: ConfigError) => /does not exist/.test(formatProblem(err.problems[0])));
});
