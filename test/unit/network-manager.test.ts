// The bridge network's bookkeeping with recorded plugins and in-memory namespaces (no root,
// no plugin): what an attach runs and in which order, that a host port is reserved before
// the first await, that a failed ADD is undone with what the plugins reported, that a
// second attach keeps what is there, and what the start-up collection DELs and CHECKs.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { BridgeNetwork, type AttachRequest } from '../../src/network/manager.js';
import { CniError } from '../../src/network/errors.js';
import type { NetnsOps } from '../../src/network/netns.js';
import type { PluginCall, PluginExec } from '../../src/network/plugin.js';
import { resolvePort } from '../../src/spec/ports.js';

interface Fake {
  calls: string[];
  prevResults: unknown[];
  namespaces: Set<string>;
  fail?: (type: string, call: PluginCall) => boolean;
}

function fakes(): { fake: Fake; exec: PluginExec; netns: NetnsOps } {
  const fake: Fake = { calls: [], prevResults: [], namespaces: new Set() };
  let next = 2;
  const exec: PluginExec = async (type, call) => {
    if (call.command === 'VERSION') return { cniVersion: '1.0.0', supportedVersions: ['1.0.0'] };
    fake.calls.push(`${type} ${call.command} ${call.containerId}`);
    fake.prevResults.push(call.config.prevResult);
    if (fake.fail?.(type, call)) throw new CniError('CniPluginFailed', `${type} failed`, { plugin: type });
    if (call.command !== 'ADD') return undefined;
    if (type === 'bridge') return { cniVersion: '1.0.0', interfaces: [{ name: 'br' }, { name: 'veth' }, { name: 'eth0', sandbox: call.netns }], ips: [{ interface: 2, address: `10.9.0.${next++}/24` }] };
    return call.config.prevResult ?? { cniVersion: '1.0.0' };
  };
  const netns: NetnsOps = {
    create: async (file) => void fake.namespaces.add(file),
    remove: async (file) => void fake.namespaces.delete(file),
    isMounted: async (file) => fake.namespaces.has(file),
  };
  return { fake, exec, netns };
}

function world(t: TestContext) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'net-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { fake, exec, netns } = fakes();
  const make = (live: string[] = []) =>
    new BridgeNetwork({
      dir, bridge: 'br0', subnet: '10.9.0.0/24', pluginDirs: [], log: pino({ level: 'silent' }), exec, netns,
      listLive: async () => new Set(live), readResolv: async () => ({ host: 'nameserver 192.0.2.1\n' }),
    });
  return { dir, fake, make };
}

const req = (name: string, hostPort?: number): AttachRequest => ({
  containerId: `default.${name}`,
  key: `default/${name}`,
  hostnames: [],
  ports: hostPort === undefined ? [] : [resolvePort({ containerPort: 80, hostPort })],
});

test('an attach makes the namespace, then loopback, then bridge -> portmap -> firewall, and names its peers', async (t) => {
  const w = world(t);
  const net = w.make();
  const a = await net.attach(req('a', 8080));
  assert.deepEqual(w.fake.calls, ['loopback ADD default.a', 'bridge ADD default.a', 'portmap ADD default.a', 'firewall ADD default.a']);
  assert.ok(w.fake.namespaces.has(net.files('default.a').netns));
  assert.equal(a.ip, '10.9.0.2');
  const b = await net.attach(req('b'));
  assert.match(readFileSync(net.files('default.a').hosts, 'utf8'), new RegExp(`${b.ip}\\tb b\\.default`));
  assert.match(readFileSync(net.files('default.b').resolv, 'utf8'), /nameserver 192\.0\.2\.1/);
});

test('a second attach of the same request keeps the attachment: no plugin runs', async (t) => {
  const w = world(t);
  const net = w.make();
  await net.attach(req('a', 8080));
  w.fake.calls.length = 0;
  await net.attach(req('a', 8080));
  assert.deepEqual(w.fake.calls, []);
});

test('two attaches asking for one host port at once: one gets it, the other is a PortConflict and leaves nothing', async (t) => {
  const w = world(t);
  const net = w.make();
  const results = await Promise.allSettled([net.attach(req('a', 8080)), net.attach(req('b', 8080))]);
  assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  const lost = results.findIndex((r) => r.status === 'rejected');
  assert.equal(((results[lost] as PromiseRejectedResult).reason as { code: string }).code, 'PortConflict');
  const loser = lost === 0 ? 'default.a' : 'default.b';
  assert.equal(net.info(loser), undefined);
  assert.ok(!w.fake.calls.some((c) => c.endsWith(loser)), 'no plugin ran for the loser');
});

test('a failed ADD is undone: DEL in reverse with what the plugins before it reported, then the namespace and the record', async (t) => {
  const w = world(t);
  const net = w.make();
  w.fake.fail = (type, call) => type === 'firewall' && call.command === 'ADD';
  await assert.rejects(net.attach(req('a', 8080)), /firewall failed/);
  assert.deepEqual(w.fake.calls.slice(-3), ['firewall DEL default.a', 'portmap DEL default.a', 'bridge DEL default.a']);
  const prev = w.fake.prevResults.at(-1) as { ips: Array<{ address: string }> };
  assert.equal(prev.ips[0].address, '10.9.0.2/24', 'the DEL knew the address the bridge plugin gave');
  assert.equal(w.fake.namespaces.size, 0);
  assert.equal(existsSync(path.join(w.dir, 'results', 'default.a.json')), false);
  assert.equal(net.info('default.a'), undefined);
  w.fake.fail = undefined;
  await net.attach(req('b', 8080)); // the port is free again
});

test('a detach DELs in reverse with the cached result; one that fails keeps the record and the port for a retry', async (t) => {
  const w = world(t);
  const net = w.make();
  await net.attach(req('a', 8080));
  w.fake.calls.length = 0;
  w.fake.fail = (type, call) => type === 'portmap' && call.command === 'DEL';
  await assert.rejects(net.detach('default.a'));
  assert.deepEqual(w.fake.calls, ['firewall DEL default.a', 'portmap DEL default.a', 'bridge DEL default.a']);
  assert.ok(existsSync(path.join(w.dir, 'results', 'default.a.json')));
  await assert.rejects(net.attach(req('b', 8080)), (e: { code: string }) => e.code === 'PortConflict');
  w.fake.fail = undefined;
  await net.detach('default.a');
  assert.equal(existsSync(path.join(w.dir, 'results', 'default.a.json')), false);
  assert.equal(w.fake.namespaces.size, 0);
  await net.attach(req('b', 8080));
});

test('start-up: a live container is CHECKed (portmap not asked) and kept, a gone one DELed with its cached result', async (t) => {
  const w = world(t);
  const first = w.make();
  const kept = await first.attach(req('kept', 8080));
  await first.attach(req('gone', 8081));
  w.fake.calls.length = 0;
  w.fake.prevResults.length = 0;
  const second = w.make(['default.kept']);
  await second.collectOnce();
  assert.deepEqual(w.fake.calls.filter((c) => c.endsWith('default.gone')), ['firewall DEL default.gone', 'portmap DEL default.gone', 'bridge DEL default.gone']);
  assert.deepEqual(w.fake.calls.filter((c) => c.endsWith('default.kept')), ['bridge CHECK default.kept', 'firewall CHECK default.kept']);
  assert.equal(second.info('default.kept')?.ip, kept.ip);
  assert.equal(second.info('default.gone'), undefined);
  assert.doesNotMatch(readFileSync(second.files('default.kept').hosts, 'utf8'), /\bgone\b/);
});

test('start-up: a live container whose ADD a crash cut short is attached again in its own namespace, not undone', async (t) => {
  const w = world(t);
  const first = w.make();
  await first.attach(req('a', 8080));
  // What a crash between the record and the end of the ADD leaves: a record with no result.
  const record = path.join(w.dir, 'results', 'default.a.json');
  const entry = JSON.parse(readFileSync(record, 'utf8')) as Record<string, unknown>;
  delete entry.result;
  writeFileSync(record, JSON.stringify(entry));
  w.fake.calls.length = 0;
  const second = w.make(['default.a']);
  await second.collectOnce();
  assert.deepEqual(w.fake.calls, ['firewall DEL default.a', 'portmap DEL default.a', 'bridge DEL default.a', 'bridge ADD default.a', 'portmap ADD default.a', 'firewall ADD default.a']);
  assert.ok(w.fake.namespaces.has(second.files('default.a').netns), 'the same namespace, kept');
  assert.ok(second.info('default.a')?.ip);
});
