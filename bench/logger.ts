// The task log driver's cost, measured by hand (not part of `npm run bench`):
//   node dist/bench/logger.js [N]     (CONVERGE_TEST_CONTAINERD=DIR for a built containerd)
// Starts a private containerd, N idle containers (default 20) and prints the resident and
// proportional memory of their converge-loggers; then one container running `yes` with
// 100-byte lines, and the lines per second that reach its log over 5 s.

import { mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { createContainerdRuntime } from '../src/containerd/runtime.js';
import { startContainerd, uniqueNamespace } from '../test/harness/containerd.js';
import { importBusybox } from '../test/harness/image.js';
import { desired, sh } from '../test/harness/specs.js';

const kib = (pid: string, file: string, field: RegExp): number => {
  try {
    return Number(field.exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
};

async function main(n: number): Promise<void> {
  const cd = await startContainerd();
  const namespace = uniqueNamespace('logger');
  const image = await importBusybox(cd.address, namespace);
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'logger-bench-'));
  // Large files: the measured output must not rotate away meanwhile.
  const rt = createContainerdRuntime({ address: cd.address, namespace, stateDir, log: pino({ level: 'silent' }), logs: { maxSize: 1 << 30, maxFiles: 5 } });
  const keys: string[] = [];
  const loggers = (): string[] =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(stateDir);
        } catch {
          return false;
        }
      });
  try {
    for (let i = 0; i < n; i++) {
      const d = desired(`idle${i}`, { image, ...sh(`echo hello; trap 'exit 0' TERM; sleep 3600 & wait`) }, `h${i}`, 'dir:/bench.yaml', { namespace: 'default' });
      await rt.create(d, { restarts: 0 });
      await rt.start(d.key);
      keys.push(d.key);
    }
    await delay(2000);
    const idle = loggers();
    const rss = idle.reduce((s, p) => s + kib(p, 'status', /VmRSS:\s+(\d+)/), 0);
    const pss = idle.reduce((s, p) => s + kib(p, 'smaps_rollup', /^Pss:\s+(\d+)/m), 0);
    console.log(`idle: ${idle.length} loggers for ${n} containers; RSS mean ${(rss / idle.length).toFixed(0)} KiB, PSS mean ${(pss / idle.length).toFixed(0)} KiB`);

    const d = desired('chatty', { image, ...sh(`exec yes ${'y'.repeat(99)}`) }, 'hc', 'dir:/bench.yaml', { namespace: 'default' });
    await rt.create(d, { restarts: 0 });
    await rt.start(d.key);
    keys.push(d.key);
    const file = rt.logPath('default.chatty');
    const size = (): number => ['', '.1', '.2', '.3', '.4'].reduce((s, x) => s + (statSync(file + x, { throwIfNoEntry: false })?.size ?? 0), 0);
    await delay(1000);
    const [s0, t0] = [size(), Date.now()];
    await delay(5000);
    const [s1, t1] = [size(), Date.now()];
    const first = Buffer.alloc(4096);
    readSync(openSync(file, 'r'), first, 0, first.length, 0);
    const record = first.indexOf(10) + 1;
    const seconds = (t1 - t0) / 1000;
    const chatty = loggers().filter((p) => !idle.includes(p));
    console.log(
      `chatty: ${((s1 - s0) / record / seconds).toFixed(0)} lines/s (${((s1 - s0) / 1048576 / seconds).toFixed(1)} MiB/s of ${record}-byte records); ` +
        `its logger's RSS ${chatty.map((p) => kib(p, 'status', /VmRSS:\s+(\d+)/)).join(', ')} KiB`,
    );
  } finally {
    for (const k of keys) await rt.remove(k, 'SIGKILL', 0).catch((e: unknown) => console.error(String(e)));
    rt.close();
    await cd.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main(Number(process.argv[2] ?? 20));
