// The status page's logic without a browser: the recent-actions ring, the bounded log tail,
// the live feed's debounce, cap and slow-client rule (on a FakeClock, with a double of the
// response), where a problem is shown, and the page's own promises (its CSP hashes match
// what it inlines; it names no other host and sets no HTML from data).
// test/integration/page.test.ts runs it for real in chromium.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { FakeClock } from '../../src/clock.js';
import { hostAllowed } from '../../src/publish/guard.js';
import { Activity } from '../../src/publish/activity.js';
import { LiveStatus } from '../../src/publish/live.js';
import { MAX_LINE_CHARS, readLogTail } from '../../src/publish/logtail.js';
import { PAGE_CSP, pageHtml } from '../../src/publish/page.js';
import { pageMain } from '../../src/publish/page-script.js';
import { ownerOf } from '../../src/publish/view.js';
import { isDnsLabel } from '../../src/spec/schema.js';

test('the ring keeps the last N actions, counts a repeated failure once, and forgets a removed key', () => {
  const clock = new FakeClock();
  const a = new Activity(3, clock);
  assert.equal(a.record({ key: 'default/idle' }), false, 'a reconcile that did nothing is not an action');
  a.record({ key: 'default/web', action: 'create', pid: 10 });
  const fail = { key: 'default/db', error: { code: 'PullFailed', message: 'no such image' } };
  a.record(fail);
  clock.advance(1000);
  a.record(fail);
  a.record(fail);
  assert.deepEqual(a.recent().map((e) => [e.key, e.action, e.count]), [['default/db', 'error', 3], ['default/web', 'create', 1]]);
  assert.equal(a.lastOf('default/db')?.at, new Date(clock.now()).toISOString(), 'the repeat moved its time');
  a.record({ key: 'default/web', action: 'restart', reason: 'exited 137' });
  a.record({ key: 'default/x', action: 'create' });
  a.record({ key: 'default/web', action: 'remove' });
  assert.deepEqual(a.recent().map((e) => `${e.key} ${e.action}`), ['default/web remove', 'default/x create', 'default/web restart']);
  assert.equal(a.lastOf('default/web'), null, 'nothing is kept of a removed key');
  assert.equal(a.lastOf('default/x')?.action, 'create');
  a.record(fail);
  assert.equal(a.recent()[0].count, 1, 'a repeat of an entry that left the ring starts a new one');
});

test('a log tail is the last lines of at most the last bytes, lines cut, missing file empty', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'converge-tail-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'a.log');
  const cri = (text: string, tag = 'F', stream = 'stdout'): string => `2026-12-02T00:00:00.000000000Z ${stream} ${tag} ${text}\n`;
  writeFileSync(file, Array.from({ length: 50 }, (_, i) => cri(`line ${i}`)).join(''));
  assert.deepEqual(await readLogTail(file, 3), { lines: ['line 47', 'line 48', 'line 49'], partial: true });
  assert.equal((await readLogTail(file, 5000)).lines.length, 50, 'more than there is: all of it');
  assert.equal((await readLogTail(file, 5000)).partial, false);
  // Each record is 47 bytes: a 100-byte window holds the last two whole records only.
  assert.deepEqual(await readLogTail(file, 100, 100), { lines: ['line 48', 'line 49'], partial: true });
  writeFileSync(file, cri('x'.repeat(MAX_LINE_CHARS + 10)) + cri('the end of a ', 'P', 'stderr') + cri('line in parts', 'F', 'stderr'));
  const long = await readLogTail(file, 10);
  assert.equal(long.lines[0].length, MAX_LINE_CHARS + 1);
  assert.equal(long.lines[1], 'the end of a line in parts');
  writeFileSync(file, 'not a CRI record\n');
  assert.deepEqual((await readLogTail(file, 10)).lines, [], 'what is not a record is not a line');
  assert.deepEqual(await readLogTail(path.join(dir, 'none.log'), 10), { lines: [], partial: false });
});

/** A double of the response of one event stream: what was written, and whether it was cut. */
function stream(): http.ServerResponse & { text: string; ended: boolean; destroyed: boolean; status: number; close(): void } {
  const onClose: (() => void)[] = [];
  const res = {
    text: '',
    ended: false,
    destroyed: false,
    writableLength: 0,
    status: 0,
    writeHead(status: number) {
      res.status = status;
      return res;
    },
    write(s: string) {
      res.text += s;
      return true;
    },
    end(s?: string) {
      if (s) res.text += s;
      res.ended = true;
    },
    destroy() {
      res.destroyed = true;
    },
    once(_event: string, fn: () => void) {
      onClose.push(fn);
    },
    close() {
      for (const fn of onClose) fn();
    },
  };
  return res as unknown as ReturnType<typeof stream>;
}

const GET = { method: 'GET' } as http.IncomingMessage;
const views = (s: string): string[] => [...s.matchAll(/^data: (.*)$/gm)].map((m) => m[1]);

test('the live feed pushes a changed view once per burst, at most every minIntervalMs, and nothing unchanged', () => {
  const clock = new FakeClock();
  let view = { n: 0 };
  const live = new LiveStatus(() => view, { minIntervalMs: 250, pollMs: 1000, heartbeatMs: 15_000 }, clock);
  const a = stream();
  live.attach(GET, a);
  assert.deepEqual(views(a.text), ['{"n":0}'], 'a new client gets the view at once');
  assert.match(a.text, /^retry: 2000\n\n/);
  view = { n: 1 };
  for (let i = 0; i < 10; i++) live.changed();
  clock.advance(249);
  assert.deepEqual(views(a.text), ['{"n":0}'], 'not before minIntervalMs after the last push');
  clock.advance(1);
  assert.deepEqual(views(a.text), ['{"n":0}', '{"n":1}'], 'one push for the burst');
  live.changed();
  clock.advance(2000);
  assert.equal(views(a.text).length, 2, 'an unchanged view is not sent again');
  view = { n: 2 };
  clock.advance(1000); // no event: the poll finds it
  assert.deepEqual(views(a.text).at(-1), '{"n":2}');
  clock.advance(15_000);
  assert.match(a.text, /: heartbeat\n\n$/);
  a.close();
  assert.equal(live.size, 0);
  assert.equal(clock.pending(), 0, 'no timer runs without a client');
});

test('the live feed refuses clients over its cap and cuts off one that does not read', () => {
  const clock = new FakeClock();
  let view = { n: 0 };
  const live = new LiveStatus(() => view, { maxClients: 2, maxBufferedBytes: 100 }, clock);
  const [a, b, c] = [stream(), stream(), stream()];
  live.attach(GET, a);
  live.attach(GET, b);
  live.attach(GET, c);
  assert.equal(c.status, 503);
  assert.equal(c.ended, true);
  assert.equal(live.size, 2);
  (b as { writableLength: number }).writableLength = 101; // b's socket is full
  view = { n: 1 };
  live.changed();
  clock.advance(1000);
  assert.equal(b.destroyed, true);
  assert.equal(live.size, 1);
  assert.deepEqual(views(a.text).at(-1), '{"n":1}');
  live.close();
  assert.equal(a.ended, true);
  assert.equal(clock.pending(), 0);
});

test('a problem goes to the source whose file it names', () => {
  const names = ['dir:/etc/specs', 'git:https://git.example/fleet.git', 'kube'];
  assert.equal(ownerOf({ file: '/etc/specs/web.yaml', path: '' , message: 'x' }, names), 0);
  assert.equal(ownerOf({ file: '/etc/specs', path: '', message: 'unreadable' }, names), 0);
  assert.equal(ownerOf({ file: '/etc/specs/sub/web.yaml', path: '', message: 'x' }, names), undefined);
  assert.equal(ownerOf({ file: 'https://git.example/fleet.git:apps/web.yaml', path: '', message: 'x' }, names), 1);
  assert.equal(ownerOf({ file: 'https://git.example/fleet.git', path: '', message: 'fetch failed' }, names), 1);
  assert.equal(ownerOf({ file: 'kube:default/web', path: 'spec', message: 'x' }, names), 2);
});

test('names in /v1/logs are the spec grammar: DNS-1123 labels of at most 63', () => {
  for (const ok of ['web', 'a', 'web-1', '0', 'a'.repeat(63)]) assert.equal(isDnsLabel(ok), true, ok);
  for (const bad of ['', 'Web', 'web_1', '-web', 'web-', '..', 'a/b', 'a'.repeat(64), 'web\n']) assert.equal(isDnsLabel(bad), false, JSON.stringify(bad));
});

test('the page allows exactly its inline script and style, names no other host and sets no HTML from data', () => {
  const html = pageHtml();
  const inline = (tag: string): string[] => [...html.matchAll(new RegExp(`<${tag}>([^]*?)</${tag}>`, 'g'))].map((m) => m[1]);
  const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  const [script] = inline('script');
  const [style] = inline('style');
  assert.equal(inline('script').length, 1);
  assert.match(PAGE_CSP, new RegExp(`script-src ${hash(script).replace(/[+/]/g, '\\$&')}(;|$)`));
  assert.match(PAGE_CSP, new RegExp(`style-src ${hash(style).replace(/[+/]/g, '\\$&')}(;|$)`));
  assert.match(PAGE_CSP, /default-src 'none'/);
  assert.match(PAGE_CSP, /connect-src 'self'/);
  assert.doesNotMatch(PAGE_CSP, /unsafe/);
  assert.doesNotMatch(html, /\b(src|href)="(?!data:)[^"]*"/, 'no resource is loaded from anywhere');
  assert.doesNotMatch(html, /https?:\/\/|\/\/[a-z]/i, 'no URL of any host');
  assert.doesNotMatch(html, /\sstyle="/, 'no style attribute (the CSP would block it)');
  const source = pageMain.toString();
  assert.doesNotMatch(source, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
});

test('on a loopback listener the page answers only to a loopback Host (DNS rebinding)', () => {
  for (const ok of ['127.0.0.1:9440', '127.0.0.1', 'localhost:9440', 'LOCALHOST', '[::1]:9440', '127.1.2.3:80']) assert.equal(hostAllowed(ok, true), true, ok);
  for (const bad of [undefined, '', 'evil.example:9440', 'evil.example', '127.0.0.1.evil.example', '[::2]:9440', '0.0.0.0:9440', 'localhost:9440:1']) {
    assert.equal(hostAllowed(bad, true), false, String(bad));
  }
  assert.equal(hostAllowed('box.lan:9440', false), true, 'a listener on the network is reached by any name');
});
