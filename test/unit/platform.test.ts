// Which manifest of a multi-platform index a machine runs (containerd's rules: exact
// match first, then older variants, then 32-bit relatives; an entry without a platform
// fits any, last).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compatiblePlatforms, formatPlatform, parsePlatform, platformMatches, selectManifest, type Platform } from '../../src/pull/platform.js';

const p = (s: string): Platform => parsePlatform(s);
const entry = (platform: string | undefined, digest = platform ?? 'none') => (platform ? { digest, platform: p(platform) } : { digest });

test('parses and normalises os/arch/variant', () => {
  assert.deepEqual(p('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(p('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(p('arm64'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(p('linux/aarch64/v8'), { os: 'linux', architecture: 'arm64' });
  assert.deepEqual(p('linux/arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(p('linux/armhf'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(p('Linux/ARM/6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.deepEqual(p('linux/amd64/v1'), { os: 'linux', architecture: 'amd64' });
  assert.equal(formatPlatform(p('linux/arm/v6')), 'linux/arm/v6');
  assert.throws(() => p('linux/amd64/v2/extra'), /expected os\/arch\[\/variant\]/);
  assert.throws(() => p('linux//amd64'), /expected os\/arch/);
});

test('what a machine runs, best first', () => {
  const names = (s: string): string[] => compatiblePlatforms(p(s)).map(formatPlatform);
  assert.deepEqual(names('linux/amd64'), ['linux/amd64', 'linux/386']);
  assert.deepEqual(names('linux/amd64/v3'), ['linux/amd64/v3', 'linux/amd64/v2', 'linux/amd64', 'linux/386']);
  assert.deepEqual(names('linux/arm64'), ['linux/arm64', 'linux/arm/v8', 'linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
  assert.deepEqual(names('linux/arm/v7'), ['linux/arm/v7', 'linux/arm/v6', 'linux/arm/v5']);
  assert.deepEqual(names('linux/arm/v6'), ['linux/arm/v6', 'linux/arm/v5']);
  assert.deepEqual(names('linux/s390x'), ['linux/s390x']);
});

test('matching: variants and aliases count, other systems and newer variants do not', () => {
  assert.equal(platformMatches(p('linux/amd64'), { os: 'linux', architecture: 'amd64', variant: 'v1' }), true);
  assert.equal(platformMatches(p('linux/amd64'), { os: 'linux', architecture: 'x86_64' }), true);
  assert.equal(platformMatches(p('linux/amd64'), p('linux/amd64/v2')), false);
  assert.equal(platformMatches(p('linux/amd64/v2'), p('linux/amd64')), true);
  assert.equal(platformMatches(p('linux/amd64'), p('windows/amd64')), false);
  assert.equal(platformMatches(p('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' }), true);
  assert.equal(platformMatches(p('linux/arm/v6'), p('linux/arm/v7')), false);
  assert.equal(platformMatches(p('linux/arm/v7'), p('linux/arm/v6')), true);
});

test('selects the best entry of an index', () => {
  const index = [entry('linux/arm64'), entry('linux/386'), entry('linux/amd64'), entry('linux/arm/v7'), entry('windows/amd64')];
  assert.equal(selectManifest(index, p('linux/amd64'))?.digest, 'linux/amd64');
  assert.equal(selectManifest(index, p('linux/arm64'))?.digest, 'linux/arm64');
  assert.equal(selectManifest(index, p('linux/arm/v8'))?.digest, 'linux/arm/v7');
  assert.equal(selectManifest(index, p('linux/ppc64le')), undefined);
  // Only 32-bit x86 offered: an amd64 machine runs it.
  assert.equal(selectManifest([entry('linux/arm64'), entry('linux/386')], p('linux/amd64'))?.digest, 'linux/386');
  // The best variant wins over the order of the index.
  assert.equal(selectManifest([entry('linux/amd64', 'v1'), entry('linux/amd64/v2', 'v2')], p('linux/amd64/v3'))?.digest, 'v2');
  // A newer variant than the machine's is never picked.
  assert.equal(selectManifest([entry('linux/amd64/v3')], p('linux/amd64')), undefined);
  // An entry without a platform fits any machine, after every fitting one.
  assert.equal(selectManifest([entry(undefined), entry('linux/amd64')], p('linux/amd64'))?.digest, 'linux/amd64');
  assert.equal(selectManifest([entry(undefined), entry('linux/arm64')], p('linux/amd64'))?.digest, 'none');
});
