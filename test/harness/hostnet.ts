// The host's network as the bridge tests see it: a bridge name and subnet of their own
// per test (parallel test files never share one), what a removal must leave as it found
// (links, iptables rules, IPAM allocations), and the sync cleanup of a test's bridge
// even when the test process dies.

import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { register, unregister } from './exitnet.js';
import { run } from './exec.js';

let made = 0;

/** A bridge name (15 characters at most) and a /24 that no other test process picks at the same time. */
export function testBridge(): { bridge: string; subnet: string } {
  made += 1;
  const slot = (process.pid * 7 + made * 13) % 4096;
  return { bridge: `cvt${process.pid.toString(36)}${made}`.slice(0, 15), subnet: `10.${240 + (slot >> 8)}.${slot & 255}.0/24` };
}

/** Names of the host's network interfaces. */
export async function links(): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', 'link', 'show']);
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
