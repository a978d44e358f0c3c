// The adapter's record of what a bridge container asks of the network: written as a label
// at create, read back at every task start (and after a reboot), without the spec.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LABEL_NETWORK } from '../../src/containerd/labels.js';
import { networkLabel, requestFromLabel, requestOf } from '../../src/containerd/netglue.js';
import { desired } from '../harness/specs.js';

test('a bridge container\'s request survives the label: ports with their defaults, its hostname', () => {
  const d = desired('web', {
    network: 'bridge',
    hostname: 'www',
    ports: [{ containerPort: 8080, hostPort: 18080, hostIP: '127.0.0.1' }, { containerPort: 53, hostPort: 5353, protocol: 'UDP' }, { containerPort: 80, hostPort: 80, hostIP: '0.0.0.0' }],
  });
  const label = networkLabel(d);
  assert.ok(label);
  const back = requestFromLabel({ [LABEL_NETWORK]: label }, 'default.web', 'default/web');
  assert.deepEqual(back, requestOf(d, 'default.web'));
  assert.deepEqual(back?.hostnames, ['www']);
  assert.deepEqual(back?.ports.map((p) => p.hostIP), ['127.0.0.1', '', '']);
  // 64 ports (the schema's most) stay far below containerd's 4096 bytes for a label.
  const many = desired('many', { network: 'bridge', ports: Array.from({ length: 64 }, (_, i) => ({ containerPort: 60000 + i, hostPort: 60000 + i, hostIP: '255.255.255.255' })) });
  assert.ok(networkLabel(many)!.length < 3000);
});

test('other networks have no label, and a label that is not ours reads as no request', () => {
  assert.equal(networkLabel(desired('web')), undefined);
  assert.equal(networkLabel(desired('web', { network: 'host' })), undefined);
  assert.equal(requestFromLabel({}, 'default.web', 'default/web'), undefined);
  for (const bad of ['nonsense', '{"ports":["80"],"hostnames":[]}', '{"ports":[],"hostnames":[1]}']) {
    assert.equal(requestFromLabel({ [LABEL_NETWORK]: bad }, 'default.web', 'default/web'), undefined, bad);
  }
});
