// What the kernel says about a process: CPU time used (utime + stime), resident memory now
// (VmRSS) and at its peak (VmHWM). Read from /proc, so the figures cost the measured process nothing.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BenchError } from './errors.js';

let ticksPerSecond: number | undefined;

/** The kernel's clock tick (USER_HZ) that /proc/PID/stat counts CPU time in. */
function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

/** CPU time (user + system) the process has used so far, in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) may hold spaces; fields after its closing ')' do not. utime and stime
  // are fields 14 and 15, i.e. 12th and 13th after the ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / clockTicks();
}

function statusField(pid: number, field: string): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
  if (!m) throw new BenchError('BENCH_UNEXPECTED_STATE', `/proc/${pid}/status has no ${field}`);
  return Number(m[1]);
}

/** Resident set size now (VmRSS), in MiB. */
export function rssMiB(pid: number): number {
  return Math.round((statusField(pid, 'VmRSS') / 1024) * 10) / 10;
}

/** Peak resident set size so far (VmHWM), in MiB. */
export function peakRssMiB(pid: number): number {
  return Math.round((statusField(pid, 'VmHWM') / 1024) * 10) / 10;
}

/**
 * CPU time (user + system) of this process's children that have exited and been waited
 * for (cutime + cstime), in ms: what the ctr processes of the baseline used.
 */
export function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[13]) + Number(rest[14])) * 1000) / clockTicks();
}
