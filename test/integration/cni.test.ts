// The CNI driver against the real plugins of Debian's containernetworking-plugins and the
// real iptables, without containerd: attach and detach leave the host as they found it,
// a published port answers on 127.0.0.1, a restart adopts (CHECK, no ADD) and repairs,
// and what a crashed converge left behind is collected. Every test has its own bridge and
// subnet, and sends traffic only to 127.0.0.1 published ports.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { BridgeNetwork, type AttachRequest } from '../../src/network/manager.js';
import { resolvePort } from '../../src/spec/ports.js';
import { allocations, HostWatch, links, removeBridgeAfter, rulesWith, testBridge } from '../harness/hostnet.js';
import { freePort } from '../harness/net.js';
import { run } from '../harness/exec.js';
import { waitFor } from '../harness/wait.js';

const log = pino({ level: 'silent' });

interface World {
  dir: string;
  bridge: string;
  subnet: string;
  /** This test's share of the host's links and rules. */
  host: HostWatch;
  /** A converge's network over this world's state; `live` says which containers exist. */
  network(live?: string[]): BridgeNetwork;
}

/** A bridge, subnet and state dir of the test's own; whatever it attached is detached after it, pass or fail. */
async function world(t: TestContext): Promise<World> {
  const { bridge, subnet } = await testBridge();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cni-it-'));
  t.after(async () => {
    // A converge that knows no container collects every attachment of this world.
    await new BridgeNetwork({ dir, bridge, subnet, pluginDirs: ['/usr/lib/cni'], log, listLive: async () => new Set() }).collectOnce();
    rmSync(dir, { recursive: true, force: true });
  });
  removeBridgeAfter(bridge, (fn) => t.after(fn));
  return {
    dir,
    bridge,
    subnet,
    host: new HostWatch(bridge, subnet),
    network(live = []) {
      return new BridgeNetwork({ dir, bridge, subnet, pluginDirs: ['/usr/lib/cni'], log, listLive: async () => new Set(live) });
    },
  };
}

const request = (name: string, ports: Array<{ containerPort: number; hostPort: number; hostIP?: string }> = []): AttachRequest => ({
  containerId: `default.${name}`,
  key: `default/${name}`,
  hostnames: [],
  ports: ports.map(resolvePort),
});

/** busybox httpd inside the container's namespace, serving `body` on `port`; stopped after the test. */
function serveInNetns(t: TestContext, netns: string, port: number, body: string): void {
  const www = mkdtempSync(path.join(os.tmpdir(), 'cni-www-'));
  writeFileSync(path.join(www, 'index.html'), body);
  const child = spawn('nsenter', [`--net=${netns}`, '/bin/busybox', 'httpd', '-f', '-p', String(port), '-h', www], { stdio: 'ignore' });
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(www, { recursive: true, force: true });
  });
}

async function get(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) });
  return res.text();
}

/** What a removal must leave as it was: the links on the bridge, the rules of this test, the network's allocations. */
async function hostState(w: World, net: BridgeNetwork): Promise<{ bridgePorts: string[]; rules: string[]; allocations: string[] }> {
  return { ...(await w.host.snapshot()), allocations: allocations(net.ipamDir) };
}

describe('the CNI driver on the real plugins', () => {
  it('attaches with a published port on 127.0.0.1 and detaches leaving links, rules and allocations as they were', async (t) => {
    const w = await world(t);
    const net = w.network();
    // The first container makes the bridge and the plugins' shared chains, which stay (as docker0 does).
    const anchor = await net.attach(request('anchor'));
    const before = await hostState(w, net);
    const hostPort = await freePort();
    const web = await net.attach(request('web', [{ containerPort: 8080, hostPort, hostIP: '127.0.0.1' }]));
    assert.ok(web.ip && anchor.ip && web.ip !== anchor.ip, `two addresses: ${anchor.ip}, ${web.ip}`);
    serveInNetns(t, net.files('default.web').netns, 8080, 'hello from web\n');
    assert.equal(await waitFor(() => get(hostPort).catch(() => undefined), { what: `127.0.0.1:${hostPort} to answer` }), 'hello from web\n');
    assert.equal((await rulesWith(`--dport ${hostPort} -j DNAT`)).length, 1);
    assert.match(readFileSync(net.files('default.anchor').hosts, 'utf8'), new RegExp(`^${web.ip.replace(/\./g, '\\.')}\\tweb web\\.default$`, 'm'));
    const during = await hostState(w, net);
    assert.notDeepEqual(during, before);
    // The watch sees this attachment's own chains, declarations included.
    assert.ok(during.rules.some((l) => /^:CNI-DN-[0-9a-f]+ /.test(l)) && during.rules.some((l) => /^:CNI-[0-9a-f]+ /.test(l)), during.rules.join('\n'));
    const veth = hostVeth(w, 'default.web');
    assert.ok((await links()).includes(veth), `${veth} on the host`);

    await net.detach('default.web');
    assert.deepEqual(await hostState(w, net), before);
    assert.ok(!(await links()).includes(veth), `${veth} is gone`);
    assert.equal(existsSync(net.files('default.web').netns), false);
    assert.equal(existsSync(path.join(w.dir, 'results', 'default.web.json')), false);
    assert.doesNotMatch(readFileSync(net.files('default.anchor').hosts, 'utf8'), /\bweb\b/);
    await net.detach('default.web'); // again: already gone is done
  });

  it('gives 20 containers 20 addresses, and refuses a host port that another container holds', async (t) => {
    const w = await world(t);
    const net = w.network();
    const hostPort = await freePort();
    const infos = await Promise.all(Array.from({ length: 20 }, (_, i) => net.attach(request(`c${i}`, i === 0 ? [{ containerPort: 80, hostPort }] : []))));
    const ips = infos.map((i) => i.ip);
    assert.equal(new Set(ips).size, 20, `distinct: ${ips.join(' ')}`);
    await assert.rejects(net.attach(request('late', [{ containerPort: 81, hostPort, hostIP: '127.0.0.1' }])), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PortConflict');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${hostPort}/TCP is published by default/c0`));
      return true;
    });
    assert.equal(existsSync(net.files('default.late').netns), false);
    const peers = readFileSync(net.files('default.c5').hosts, 'utf8');
    for (let i = 0; i < 20; i++) assert.match(peers, new RegExp(`\\tc${i} c${i}\\.default\\n`));
  });

  it('a restarted converge adopts a live attachment without an ADD, and attaches again what a CHECK finds broken', async (t) => {
    const w = await world(t);
    const hostPort = await freePort();
    const first = await w.network().attach(request('web', [{ containerPort: 8080, hostPort, hostIP: '127.0.0.1' }]));
    const record = path.join(w.dir, 'results', 'default.web.json');
    const written = statSync(record).mtimeMs;

    const second = w.network(['default.web']);
    await second.collectOnce();
    assert.equal(second.info('default.web')?.ip, first.ip);
    assert.equal(statSync(record).mtimeMs, written, 'no new ADD result was written');
    assert.equal((await rulesWith(`--dport ${hostPort} -j DNAT`)).length, 1);
    assert.deepEqual(allocations(second.ipamDir), [first.ip]);

    // A firewall reload that lost this container's forwarding rule: the CHECK finds it.
    await run('iptables', ['-D', 'CNI-FORWARD', '-s', `${first.ip}/32`, '-j', 'ACCEPT']);
    const third = w.network(['default.web']);
    await third.collectOnce();
    const ip = third.info('default.web')?.ip;
    assert.ok(ip);
    assert.equal((await rulesWith(`-s ${ip}/32 -j ACCEPT`)).length, 1);
    assert.equal((await rulesWith(`--dport ${hostPort} -j DNAT`)).length, 1);
  });

  it('collects at start-up what no container is behind: records, half-done ADDs, namespaces, allocations', async (t) => {
    const w = await world(t);
    const net = w.network();
    await net.attach(request('keep'));
    const before = await hostState(w, net);
    await net.attach(request('gone', [{ containerPort: 80, hostPort: await freePort() }]));
    await net.attach(request('lost'));
    await hostState(w, net); // learns their chains
    const veths = [hostVeth(w, 'default.gone'), hostVeth(w, 'default.lost')];
    // "lost": its record is gone (a crash before it was written), its allocation and namespace are not.
    rmSync(path.join(w.dir, 'results', 'default.lost.json'));
    // A namespace and name files with nothing else: a crash just after the namespace was made.
    mkdirSync(path.join(w.dir, 'etc', 'default.half'), { recursive: true });
    writeFileSync(path.join(w.dir, 'etc', 'default.half', 'hosts'), '');
    await run('unshare', [`--net=${touch(path.join(w.dir, 'netns', 'default.half'))}`, 'true']);

    const restarted = w.network(['default.keep']);
    await restarted.collectOnce();
    assert.deepEqual([...restarted.table.keys()], ['default.keep']);
    assert.deepEqual(await hostState(w, restarted), before);
    const now = await links();
    assert.deepEqual(veths.filter((v) => now.includes(v)), []);
    for (const sub of ['netns', 'etc']) assert.deepEqual(readdir(path.join(w.dir, sub)), ['default.keep']);
    assert.deepEqual(readdir(path.join(w.dir, 'results')), ['default.keep.json']);
  });
});

/** The host side of a container's veth pair, as its cached result names it. */
function hostVeth(w: World, id: string): string {
  const entry = JSON.parse(readFileSync(path.join(w.dir, 'results', `${id}.json`), 'utf8')) as { result: { interfaces: Array<{ name: string; sandbox?: string }> } };
  const veth = entry.result.interfaces.find((i) => !i.sandbox && i.name !== w.bridge)?.name;
  assert.ok(veth);
  return veth;
}

function touch(file: string): string {
  writeFileSync(file, '');
  return file;
}

function readdir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}
