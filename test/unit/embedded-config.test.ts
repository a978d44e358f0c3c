// The private containerd's config.toml in each config version converge writes: 2 (containerd
// 1.6, 1.7), 3 (2.0 to 2.3) and 4 (2.4 on, where the listeners are server plugins).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerdConfig } from '../../src/embedded/config.js';

const paths = { root: '/x/root', state: '/x/state', address: '/x/c.sock', opt: '/x/opt' };

test('versions 2 and 3 put the listeners at the top level, ttrpc next to the gRPC socket', () => {
  for (const v of [2, 3] as const) {
    const toml = containerdConfig(paths, v);
    assert.match(toml, new RegExp(`^version = ${v}$`, 'm'));
    assert.match(toml, /^\[grpc\]\n {2}address = "\/x\/c\.sock"$/m);
    assert.match(toml, /^\[ttrpc\]\n {2}address = ""$/m, 'empty: derived from the gRPC address');
    assert.doesNotMatch(toml, /io\.containerd\.server\.v1/);
  }
});

test('version 4 configures the listeners as server plugins, never on the machine-wide defaults', () => {
  const toml = containerdConfig(paths, 4);
  assert.match(toml, /^version = 4$/m);
  assert.doesNotMatch(toml, /^\[(grpc|ttrpc|metrics)\]$/m);
  assert.match(toml, /^\[plugins\."io\.containerd\.server\.v1\.grpc"\]\n {2}address = "\/x\/c\.sock"$/m);
  assert.match(toml, /^\[plugins\."io\.containerd\.server\.v1\.ttrpc"\]\n {2}address = "\/x\/c\.sock\.ttrpc"$/m);
});

test('every version: own root, state and opt dir, no conf.d imports, one [debug] table', () => {
  for (const v of [2, 3, 4] as const) {
    const toml = containerdConfig(paths, v);
    assert.match(toml, /^root = "\/x\/root"$/m);
    assert.match(toml, /^state = "\/x\/state"$/m);
    assert.match(toml, /^imports = \[\]$/m);
    assert.match(toml, /^\[plugins\."io\.containerd\.internal\.v1\.opt"\]\n {2}path = "\/x\/opt"$/m);
    assert.equal(toml.match(/^\[debug\]$/gm)?.length, 1);
    assert.match(toml, /"io\.containerd\.nri\.v1\.nri"/, 'NRI off: its socket is one per machine');
  }
});
