// autoUpdate: registry, beside the reconcile workers. Every interval (or when asked: `converge
// auto-update`) it resolves each following container's tag at its registry (one request),
// pulls a new digest, keeps the running one, and sets the digest the planner recreates the
// container on; after every reconcile of such a key it looks at how the new container does
// (update.ts decides) and sets the previous digest back when it fails. It never acts on
// containerd itself beyond pulls and image collection: recreating is the planner's.

import type { Logger } from 'pino';
import { every, type Clock } from '../clock.js';
import { messageOf } from '../errors.js';
import { pinnedReference } from '../spec/reference.js';
import type { DesiredContainer, Key } from '../spec/types.js';
import type { ActualContainer, CreateOptions, Runtime } from './runtime.js';
import { beginUpdate, decideCheck, noteExit, observeUpdate, shortDigest, type UpdateRecord, type UpdateState } from './update.js';

export interface UpdaterOptions {
  runtime: Pick<Runtime, 'latestDigest' | 'ensureImage' | 'collectImages'>;
  clock: Clock;
  log: Logger;
  intervalMs: number;
  windowMs: number;
  desired(): ReadonlyMap<Key, DesiredContainer>;
  actual(key: Key): ActualContainer | undefined;
  /** Whether the key's task `pid` passes its health check now. */
  healthy(key: Key, pid: number): boolean;
  /** Reconcile the key (after `ms`). */
  enqueue(key: Key, ms?: number): void;
  /** Every finished update, rolled back or not (metrics). */
  onOutcome?(key: Key, record: UpdateRecord): void;
}

/** What one check of one container found, and what it did (or would do). */
export interface UpdateReport {
  key: Key;
  image: string;
  result: 'current' | 'failed-before' | 'busy' | 'not-running' | 'would-update' | 'updating' | 'error';
  from?: string;
  to?: string;
  message: string;
}

export class Updater {
  private readonly states = new Map<Key, UpdateState>();
  private round: Promise<UpdateReport[]> | undefined;
  private stopTimer: (() => void) | undefined;

  constructor(private readonly opts: UpdaterOptions) {}

  /** Checks every interval from now on. */
  start(): void {
    this.stopTimer ??= every(this.opts.clock, this.opts.intervalMs, () => void this.check().catch(() => undefined));
  }

  stop(): void {
    this.stopTimer?.();
    this.stopTimer = undefined;
  }

  /** One check of every following container now; a check under way is joined (unless dry). */
  check(options: { dryRun?: boolean } = {}): Promise<UpdateReport[]> {
    if (options.dryRun) return this.checkAll(true);
    this.round ??= this.checkAll(false).finally(() => (this.round = undefined));
    return this.round;
  }

  state(key: Key): UpdateState | undefined {
    return this.states.get(key);
  }

  /** While an update or a rollback is under way: the digest the planner recreates the container on. */
  imageTarget(key: Key): { digest: string; reason: string } | undefined {
    const s = this.states.get(key);
    if (!s || s.target === undefined || (s.phase !== 'Updating' && s.phase !== 'RollingBack')) return undefined;
    const reason = s.phase === 'RollingBack'
      ? `auto-update rollback to ${shortDigest(s.target)}: ${shortDigest(s.failed)} ${s.last?.reason ?? 'failed'}`
      : `auto-update ${shortDigest(s.previous)} -> ${shortDigest(s.target)}`;
    return { digest: s.target, reason };
  }

  /**
   * What a create of the key records for autoUpdate: the digest to run (the update's target,
   * else the one running now when the spec names the same image: only the updater changes
   * it) and the digest that failed.
   */
  createOptions(desired: DesiredContainer, actual: ActualContainer | undefined): Omit<CreateOptions, 'restarts'> {
    if (!desired.resolved.autoUpdate) return {};
    const ref = desired.spec.spec.image;
    const s = this.states.get(desired.key);
    const mine = s?.ref === ref ? s : undefined;
    const same = actual?.image?.ref === ref ? actual.image : undefined;
    const out: Omit<CreateOptions, 'restarts'> = {};
    const digest = mine?.target ?? same?.digest;
    if (digest) out.imageDigest = digest;
    const failed = mine?.failed ?? same?.failedDigest;
    if (failed) out.failedDigest = failed;
    return out;
  }

  /** A task of the key exited (the event stream): a non-zero exit while verifying fails it. */
  exited(key: Key, exitCode: number): void {
    const s = this.states.get(key);
    if (!s) return;
    const next = noteExit(s, exitCode);
    if (next !== s) {
      this.states.set(key, next);
      this.opts.enqueue(key);
    }
  }

  /** After a reconcile of the key: how the update goes, from what was read. */
  observe(key: Key): void {
    const s = this.states.get(key);
    if (!s || s.phase === 'Idle') return;
    const d = this.opts.desired().get(key);
    if (!d || !d.resolved.autoUpdate || d.spec.spec.image !== s.ref) {
      this.states.delete(key); // the spec moved on: nothing to verify or roll back
      return;
    }
    const a = this.opts.actual(key);
    const task = a?.task;
    const running = task?.status === 'running';
    const now = this.opts.clock.now();
    const next = observeUpdate(s, {
      now,
      digest: a?.image?.digest,
      running,
      exitCode: task?.status === 'stopped' ? task.exitStatus : undefined,
      healthy: d.resolved.healthCheck ? running && this.opts.healthy(key, task.pid) : undefined,
    }, this.opts.windowMs);
    if (next === s) return;
    this.states.set(key, next);
    this.report(key, s, next);
    // A rollback is a recreate for the planner; a window that opened ends with a look.
    if (next.phase === 'RollingBack' || next.phase === 'Idle') this.opts.enqueue(key);
    if (next.phase === 'Verifying') this.opts.enqueue(key, Math.max(0, (next.deadline ?? now) - now));
  }

  private report(key: Key, before: UpdateState, after: UpdateState): void {
    const log = this.opts.log.child({ key, image: after.ref });
    if (after.last && after.last !== before.last) {
      const { outcome, from, to, reason } = after.last;
      if (outcome === 'Updated') log.info({ outcome, from, to }, 'auto-update done');
      else log.warn({ outcome, from, to, reason }, 'auto-update failed; rolling back');
      this.opts.onOutcome?.(key, after.last);
    }
    if (after.phase === 'Verifying' && before.phase !== 'Verifying') log.info({ digest: after.target, windowMs: this.opts.windowMs }, 'auto-update: new container running; verifying');
    if (after.phase === 'Idle' && before.phase === 'RollingBack') log.info({ digest: after.target }, 'auto-update: rolled back');
  }

  private async checkAll(dryRun: boolean): Promise<UpdateReport[]> {
    const reports: UpdateReport[] = [];
    const all = this.opts.desired();
    // What is no longer desired (or no longer follows its tag) has nothing to remember.
    for (const key of [...this.states.keys()]) if (!all.get(key)?.resolved.autoUpdate) this.states.delete(key);
    const desired = [...all.values()].filter((d) => d.resolved.autoUpdate).sort((a, b) => (a.key < b.key ? -1 : 1));
    // One at a time: a check is one small request, and a pull should not compete with ten.
    for (const d of desired) reports.push(await this.checkOne(d, dryRun));
    if (!dryRun) await this.collect();
    return reports;
  }

  private async checkOne(d: DesiredContainer, dryRun: boolean): Promise<UpdateReport> {
    const { key } = d;
    const image = d.spec.spec.image;
    const a = this.opts.actual(key);
    if (!a || a.specHash !== d.hash || a.task?.status !== 'running') return { key, image, result: 'not-running', message: 'not checked: not running as its spec says' };
    let s = this.states.get(key);
    if (!s || s.ref !== image) s = { ref: image, phase: 'Idle', failed: a.image?.ref === image ? a.image.failedDigest : undefined };
    const current = a.image?.digest;
    let latest: string;
    try {
      latest = await this.opts.runtime.latestDigest!(image);
    } catch (err) {
      this.opts.log.warn({ key, image, err }, 'auto-update: checking the tag failed');
      return { key, image, result: 'error', from: current, message: `checking the tag failed: ${messageOf(err)}` };
    }
    const decision = decideCheck(s, current, latest);
    const base = { key, image, from: current, to: latest };
    if (decision === 'current') return { ...base, result: 'current', message: `up to date (${shortDigest(latest)})` };
    if (decision === 'busy') return { ...base, result: 'busy', message: `an update is under way (${s.phase})` };
    if (decision === 'failed-before') return { ...base, result: 'failed-before', message: `${shortDigest(latest)} failed before; waiting for the tag to move` };
    if (dryRun) return { ...base, result: 'would-update', message: `would update ${shortDigest(current)} -> ${shortDigest(latest)}` };
    try {
      // The running digest stays there for a rollback; the new one is pulled by digest, so
      // the tag moving on again meanwhile changes nothing.
      if (current) await this.opts.runtime.ensureImage!(pinnedReference(image, current), 'IfNotPresent');
      await this.opts.runtime.ensureImage!(pinnedReference(image, latest), 'IfNotPresent');
    } catch (err) {
      this.opts.log.warn({ key, image, digest: latest, err }, 'auto-update: pulling the new digest failed');
      return { ...base, result: 'error', message: `pulling ${shortDigest(latest)} failed: ${messageOf(err)}` };
    }
    const next = beginUpdate(s, current, latest, this.opts.clock.now(), this.opts.windowMs, d.resolved.graceMs);
    this.states.set(key, next);
    this.opts.log.info({ key, image, from: current, to: latest }, 'auto-update: new digest pulled; recreating');
    this.opts.enqueue(key);
    this.opts.enqueue(key, Math.max(0, (next.deadline ?? 0) - this.opts.clock.now()));
    return { ...base, result: 'updating', message: `updating ${shortDigest(current)} -> ${shortDigest(latest)} (rollback window ${Math.round(this.opts.windowMs / 1000)}s)` };
  }

  /** Images nobody uses any more go; the specs' own and every digest an update holds stay. */
  private async collect(): Promise<void> {
    if (!this.opts.runtime.collectImages) return;
    const keep: string[] = [];
    for (const d of this.opts.desired().values()) keep.push(d.spec.spec.image);
    for (const s of this.states.values()) {
      for (const digest of [s.target, s.previous]) if (digest) keep.push(pinnedReference(s.ref, digest));
    }
    try {
      await this.opts.runtime.collectImages(keep);
    } catch (err) {
      this.opts.log.warn({ err }, 'collecting unused images failed');
    }
  }
}
