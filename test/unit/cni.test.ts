// The CNI protocol as converge speaks it, against recorded plugin runs (no plugin binary,
// no root): a list's ADD in order with prevResult, DEL in reverse with the cached result,
// CHECK with it, runtime arguments only to the plugins that declare the capability, and
// a plugin's error object as a typed error.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addNetworkList, checkNetworkList, containerIp, delNetworkList, unsupportedPlugins, type NetworkList } from '../../src/network/conflist.js';
import { CniError, fromPluginError } from '../../src/network/errors.js';
import { execPlugins, parseOutput, type PluginCall, type PluginExec } from '../../src/network/plugin.js';
import { bridgeList, checkBridgeName, checkSubnet, portMappings } from '../../src/network/bridge.js';
import { resolvePort } from '../../src/spec/ports.js';

const LIST: NetworkList = {
  cniVersion: '1.0.0',
  name: 'net0',
  plugins: [{ type: 'bridge', bridge: 'net0' }, { type: 'portmap', capabilities: { portMappings: true } }, { type: 'firewall' }],
};
const AT = { containerId: 'default.web', netns: '/run/netns/x', ifName: 'eth0', capabilityArgs: { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: 'tcp' }] } };

/** A fake exec that records each call and answers ADD with a result naming the plugin. */
function recorder(fail?: (type: string, call: PluginCall) => Error | undefined): { exec: PluginExec; calls: Array<{ type: string } & PluginCall> } {
  const calls: Array<{ type: string } & PluginCall> = [];
  const exec: PluginExec = async (type, call) => {
    calls.push({ type, ...call });
    const err = fail?.(type, call);
    if (err) throw err;
    if (call.command !== 'ADD') return undefined;
    const prev = call.config.prevResult as { by?: string[] } | undefined;
    return {
      cniVersion: '1.0.0',
      by: [...(prev?.by ?? []), type],
      interfaces: [{ name: 'net0' }, { name: 'veth1' }, { name: 'eth0', sandbox: call.netns }],
      ips: [{ interface: 2, address: '10.0.0.2/24', gateway: '10.0.0.1' }],
    };
  };
  return { exec, calls };
}

test('ADD runs the plugins in order, each with the result before it as prevResult', async () => {
  const { exec, calls } = recorder();
  const result = await addNetworkList(exec, LIST, AT);
  assert.deepEqual(calls.map((c) => `${c.type} ${c.command}`), ['bridge ADD', 'portmap ADD', 'firewall ADD']);
  assert.equal(calls[0].config.prevResult, undefined);
  assert.deepEqual((calls[1].config.prevResult as { by: string[] }).by, ['bridge']);
  assert.deepEqual((calls[2].config.prevResult as { by: string[] }).by, ['bridge', 'portmap']);
  assert.deepEqual(result.by, ['bridge', 'portmap', 'firewall']);
  for (const c of calls) {
    assert.equal(c.config.name, 'net0');
    assert.equal(c.config.cniVersion, '1.0.0');
    assert.equal(c.containerId, 'default.web');
    assert.equal(c.netns, '/run/netns/x');
    assert.equal(c.ifName, 'eth0');
  }
  assert.equal(containerIp(result), '10.0.0.2');
});

test('runtime arguments reach only the plugins that declare the capability', async () => {
  const { exec, calls } = recorder();
  await addNetworkList(exec, LIST, AT);
  assert.equal(calls[0].config.runtimeConfig, undefined);
  assert.deepEqual(calls[1].config.runtimeConfig, { portMappings: AT.capabilityArgs.portMappings });
  assert.equal(calls[2].config.runtimeConfig, undefined);
  // A capability without an argument adds no runtimeConfig at all.
  const bare = recorder();
  await addNetworkList(bare.exec, LIST, { ...AT, capabilityArgs: {} });
  assert.equal(bare.calls[1].config.runtimeConfig, undefined);
});

test('a failed ADD stops the list there; progress has what the plugins before it reported', async () => {
  const { exec, calls } = recorder((type) => (type === 'portmap' ? fromPluginError('portmap ADD', { code: 999, msg: 'no' }) : undefined));
  const seen: unknown[] = [];
  await assert.rejects(addNetworkList(exec, LIST, AT, (r) => seen.push(r.by)), (err: CniError) => err.code === 'CniPluginFailed');
  assert.deepEqual(calls.map((c) => c.type), ['bridge', 'portmap']);
  assert.deepEqual(seen, [['bridge']]);
});

test('DEL runs the plugins in reverse order, each with the cached result of the ADD', async () => {
  const { exec, calls } = recorder();
  const cached = await addNetworkList(exec, LIST, AT);
  calls.length = 0;
  await delNetworkList(exec, LIST, AT, cached);
  assert.deepEqual(calls.map((c) => `${c.type} ${c.command}`), ['firewall DEL', 'portmap DEL', 'bridge DEL']);
  for (const c of calls) assert.deepEqual(c.config.prevResult, cached);
  assert.deepEqual(calls[1].config.runtimeConfig, { portMappings: AT.capabilityArgs.portMappings });
});

test('DEL goes on past a failing plugin and throws the first failure after the last', async () => {
  const { exec, calls } = recorder((type) => (type === 'portmap' || type === 'bridge' ? new CniError('CniTryAgainLater', `${type} busy`, { plugin: type }) : undefined));
  await assert.rejects(delNetworkList(exec, LIST, AT), (err: CniError) => err.message === 'portmap busy');
  assert.deepEqual(calls.map((c) => c.type), ['firewall', 'portmap', 'bridge']);
  assert.equal(calls[0].config.prevResult, undefined); // no cached result: none is sent
});

test('CHECK runs in order with the cached result and stops at the first failure', async () => {
  const { exec, calls } = recorder((type, call) => (type === 'portmap' && call.command === 'CHECK' ? new CniError('CniPluginFailed', 'rule missing', { plugin: type }) : undefined));
  const cached = await addNetworkList(exec, LIST, AT);
  calls.length = 0;
  await assert.rejects(checkNetworkList(exec, LIST, AT, cached), /rule missing/);
  assert.deepEqual(calls.map((c) => `${c.type} ${c.command}`), ['bridge CHECK', 'portmap CHECK']);
  assert.deepEqual(calls[0].config.prevResult, cached);
});

test('the spec\'s error codes become typed errors; other codes are the plugin\'s own failure', () => {
  const table: Array<[number, string]> = [
    [1, 'CniIncompatibleVersion'], [2, 'CniUnsupportedField'], [3, 'CniUnknownContainer'], [4, 'CniInvalidEnvironment'],
    [5, 'CniIoFailure'], [6, 'CniDecodeFailure'], [7, 'CniInvalidNetworkConfig'], [11, 'CniTryAgainLater'], [100, 'CniPluginFailed'], [999, 'CniPluginFailed'],
  ];
  for (const [number, code] of table) {
    const err = fromPluginError('bridge ADD', { code: number, msg: 'm', details: 'd' });
    assert.ok(err instanceof CniError);
    assert.equal(err.code, code, `code ${number}`);
    assert.equal(err.cniCode, number);
    assert.equal(err.message, 'bridge ADD: m (d)');
  }
});

test('plugin output: a result, nothing, an error object, or garbage', () => {
  assert.deepEqual(parseOutput('x ADD', 0, '{"ips":[]}', ''), { ips: [] });
  assert.equal(parseOutput('x DEL', 0, '', ''), undefined);
  assert.throws(() => parseOutput('x ADD', 1, '{"cniVersion":"1.0.0","code":7,"msg":"bad config"}', ''), (e: CniError) => e.code === 'CniInvalidNetworkConfig' && e.plugin === 'x ADD');
  assert.throws(() => parseOutput('x ADD', 2, '', 'panic: oops'), (e: CniError) => e.code === 'CniPluginFailed' && /panic: oops/.test(e.message));
  assert.throws(() => parseOutput('x ADD', 0, 'not json', ''), (e: CniError) => e.code === 'CniBadOutput');
});

test('VERSION finds the plugins that do not speak the list\'s version', async () => {
  const exec: PluginExec = async (type) => ({ cniVersion: '1.0.0', supportedVersions: type === 'firewall' ? ['0.4.0'] : ['0.4.0', '1.0.0'] });
  assert.deepEqual(await unsupportedPlugins(exec, LIST), ['firewall (speaks 0.4.0)']);
});

test('a plugin binary gets the CNI_* environment and its config on stdin; a missing one or a hung one is a typed error', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cni-unit-'));
  try {
    const echo = path.join(dir, 'echo');
    writeFileSync(echo, '#!/bin/sh\nprintf \'{"env":"%s %s %s %s %s","stdin":%s}\' "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_PATH" "$(cat)"\n');
    chmodSync(echo, 0o755);
    const hang = path.join(dir, 'hang');
    writeFileSync(hang, '#!/bin/sh\nexec sleep 30\n');
    chmodSync(hang, 0o755);
    const exec = execPlugins({ dirs: [path.join(dir, 'none'), dir], timeoutMs: 300 });
    const out = (await exec('echo', { command: 'ADD', containerId: 'c1', netns: '/ns', ifName: 'eth0', config: { a: 1 } })) as { env: string; stdin: unknown };
    assert.equal(out.env, `ADD c1 /ns eth0 ${path.join(dir, 'none')}:${dir}`);
    assert.deepEqual(out.stdin, { a: 1 });
    await assert.rejects(exec('nosuch', { command: 'ADD', containerId: 'c1', netns: '', ifName: 'eth0', config: {} }), (e: CniError) => e.code === 'CniPluginNotFound');
    await assert.rejects(exec('../echo', { command: 'ADD', containerId: 'c1', netns: '', ifName: 'eth0', config: {} }), (e: CniError) => e.code === 'CniInvalidNetworkConfig');
    await assert.rejects(exec('hang', { command: 'ADD', containerId: 'c1', netns: '', ifName: 'eth0', config: {} }), (e: CniError) => e.code === 'CniTimeout');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bridge list: bridge with host-local under the state dir, then portmap, then firewall', () => {
  const list = bridgeList({ bridge: 'converge0', subnet: '10.213.0.0/16', ipamDir: '/var/lib/converge/network/ipam' });
  assert.deepEqual(list.plugins.map((p) => p.type), ['bridge', 'portmap', 'firewall']);
  assert.equal(list.name, 'converge0');
  assert.deepEqual((list.plugins[0].ipam as { dataDir: string }).dataDir, '/var/lib/converge/network/ipam');
  assert.deepEqual(list.plugins[1].capabilities, { portMappings: true });
  assert.deepEqual(portMappings([resolvePort({ containerPort: 8080, hostPort: 18080, hostIP: '127.0.0.1' }), resolvePort({ containerPort: 53, hostPort: 53, protocol: 'UDP' })]), [
    { hostPort: 18080, containerPort: 8080, protocol: 'tcp', hostIP: '127.0.0.1' },
    { hostPort: 53, containerPort: 53, protocol: 'udp' },
  ]);
});

test('bridge names and subnets are checked, subnets canonicalised', () => {
  assert.equal(checkBridgeName('converge0'), 'converge0');
  assert.throws(() => checkBridgeName('a-name-far-too-long'), /--bridge-name/);
  assert.throws(() => checkBridgeName('a/b'), /--bridge-name/);
  assert.equal(checkSubnet('10.213.0.0/16'), '10.213.0.0/16');
  assert.equal(checkSubnet('10.213.7.9/16'), '10.213.0.0/16');
  assert.equal(checkSubnet('192.168.77.0/24'), '192.168.77.0/24');
  for (const bad of ['10.213.0.0', '10.213.0.0/30', '10.256.0.0/16', 'fd00::/64', '10.0.0.0/4']) assert.throws(() => checkSubnet(bad), /--bridge-subnet/, bad);
});
