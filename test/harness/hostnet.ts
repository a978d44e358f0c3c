// The host's network as the bridge tests see it: a bridge name and subnet of their own
// per test (parallel test files never share one), what a removal must leave as it found
// (links, iptables rules, IPAM allocations), and the sync cleanup of a test's bridge
// even when the test process dies.

import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { register, unregister } from './exitnet.js';
import { run } from './exec.js';

let made = 0;

/**
 * A bridge name (15 characters at most, unique to this process) and a /24 that no
 * interface of the host has: other test processes pick theirs at random too, and a subnet
 * in use is passed over.
 */
export async function testBridge(): Promise<{ bridge: string; subnet: string }> {
  made += 1;
  const bridge = `cvt${process.pid.toString(36)}x${made}`.slice(0, 15);
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show']);
  for (;;) {
    const slot = Math.floor(Math.random() * 4096);
    const prefix = `10.${240 + (slot >> 8)}.${slot & 255}.`;
    if (!stdout.includes(` ${prefix}`)) return { bridge, subnet: `${prefix}0/24` };
  }
}

/** Names of the host's network interfaces (all of them, or those enslaved to `master`). */
export async function links(master?: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', 'link', 'show', ...(master ? ['master', master] : [])]).catch(() => ({ stdout: '' }));
  return stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort();
}

/** iptables-save without what changes by itself: comment lines and packet counters. */
export async function iptablesRules(): Promise<string[]> {
  const { stdout } = await run('iptables-save', []);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
}

/** Lines of iptables-save that mention `text` (an address, a port, a container ID). */
export async function rulesWith(text: string): Promise<string[]> {
  return (await iptablesRules()).filter((l) => l.includes(text));
}

/** A per-attachment chain of the plugins (bridge's masquerade, portmap's DNAT): "CNI-" or "CNI-DN-" and a hash. */
const ATTACHMENT_CHAIN = /^CNI-(DN-)?[0-9a-f]{16,}$/;

/**
 * What of the host belongs to one test's bridge: the interfaces on it, the iptables lines
 * that name its bridge or subnet, and the per-attachment chains those lines jump to (whose
 * declarations name neither). Other tests running at the same time have their own bridge
 * and subnet, so "as it was" compares only this test's share of the host.
 */
export class HostWatch {
  private readonly chains = new Set<string>();
  private readonly prefix: string;

  constructor(private readonly bridge: string, subnet: string) {
    this.prefix = subnet.split('.').slice(0, 3).join('.') + '.';
  }

  private mentions(line: string): boolean {
    return line.includes(`"${this.bridge}"`) || line.includes(this.prefix) || line.includes(` ${this.bridge} `);
  }

  /** This test's share of the host now; every snapshot learns the chains seen in it. */
  async snapshot(): Promise<{ bridgePorts: string[]; rules: string[] }> {
    const all = await iptablesRules();
    for (const line of all) {
      if (!this.mentions(line)) continue;
      for (const word of line.split(/\s+/)) if (ATTACHMENT_CHAIN.test(word)) this.chains.add(word);
    }
    const chainOf = (line: string): string | undefined => /^(?::|-A )(\S+)/.exec(line)?.[1];
    const rules = all.filter((l) => this.mentions(l) || this.chains.has(chainOf(l) ?? '') || [...this.chains].some((c) => l.includes(`-j ${c}`)));
    return { bridgePorts: await links(this.bridge), rules };
  }
}

/**
 * host-local's address allocations in a network's IPAM dir: the files named after an
 * address (its lock and its cursor, last_reserved_ip, are not allocations).
 */
export function allocations(ipamDir: string): string[] {
  try {
    return readdirSync(ipamDir).filter((n) => /^\d+\.\d+\.\d+\.\d+$/.test(n)).sort();
  } catch {
    return [];
  }
}

/** Deletes the bridge after the test (and on the test process's death); one already gone is fine. */
export function removeBridgeAfter(bridge: string, after: (fn: () => Promise<void>) => void): void {
  const item = {
    cleanupSync: () => {
      try {
        execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore', timeout: 10_000 });
      } catch {
        // not there
      }
    },
  };
  register(item);
  after(async () => {
    item.cleanupSync();
    unregister(item);
  });
}
