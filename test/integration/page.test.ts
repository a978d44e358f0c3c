// The status page in a real browser (Debian's chromium through playwright-core) against a
// real converge and containerd: a spec dropped into the watched dir appears as Running, a
// killed task's restart count goes to 1 and its log tail shows its output, all without a
// reload; a broken spec shows under its source; and the page asked nothing of any host but
// converge's listener, and broke none of its own Content-Security-Policy.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { launchChromium, type Browser } from '../harness/browser.js';
import { container, Env, sleeper, waitFor } from './util.js';

let env: Env;
let browser: Browser;
before(async () => {
  // The browser first: without chromium the test fails here, at once and saying why.
  browser = await launchChromium();
  env = await Env.start();
});
after(async () => {
  await browser?.close();
  await env?.cleanup();
});

const WAIT = { timeout: 30_000 };

/** The status code of a GET sent with this Host header (fetch cannot set one). */
function statusWithHost(listen: string, p: string, host: string): Promise<number> {
  const [hostname, port] = listen.split(':');
  return new Promise((resolve, reject) => {
    const req = http.get({ hostname, port: Number(port), path: p, headers: { host }, timeout: 5_000 }, (res) => {
      res.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}

/** The cell `field` of a container's row, once its text matches. */
function cell(page: Page, key: string, field: string, text: string | RegExp) {
  return page.locator(`tr.container[data-key="${key}"] td[data-field="${field}"]`, { hasText: text });
}

describe('status page', () => {
  it('shows a dropped spec running, a killed task restarted and its log, live and offline-clean', async (t) => {
    const s = await env.scenario(t, 'page');
    const c = await s.run(['--backoff-initial', '50ms']);
    const page = await browser.context.newPage();
    t.after(() => page.close());
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations += 1;
    });

    const res = await page.goto(`http://${c.listen}/`);
    assert.equal(res?.status(), 200);
    const headers = res!.headers();
    assert.match(headers['content-security-policy'] ?? '', /script-src 'sha256-[A-Za-z0-9+/]+=*'/);
    assert.doesNotMatch(headers['content-security-policy'] ?? '', /unsafe-inline|unsafe-eval/);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    await page.locator('#conn', { hasText: 'live' }).waitFor(WAIT);
    await page.locator('#no-containers').waitFor({ ...WAIT, state: 'visible' });

    s.write('web.yaml', container('web', sleeper('hello-from-web')));
    await cell(page, 'default/web', 'phase', /^Running$/).waitFor(WAIT);
    await cell(page, 'default/web', 'restarts', /^0$/).waitFor(WAIT);
    await cell(page, 'default/web', 'desired', 'web.yaml').waitFor(WAIT);
    await cell(page, 'default/web', 'action', 'create').waitFor(WAIT);
    const log = page.locator('tr.logs[data-key="default/web"] pre[data-field="logs"]');
    await log.filter({ hasText: 'hello-from-web' }).waitFor(WAIT);

    const pid = await s.waitRunning('default.web', { converge: c });
    const killedAt = performance.now();
    process.kill(pid, 'SIGKILL');
    const since = (p: Promise<unknown>) => p.then(() => Math.round(performance.now() - killedAt));
    const [api, shown] = await Promise.all([
      since(c.waitRow('web', (r) => r.restarts === 1, 'restarts 1')),
      since(cell(page, 'default/web', 'restarts', /^1$/).waitFor(WAIT)),
    ]);
    t.diagnostic(`SIGKILL of the task -> restart count 1: in /v1/status after ${api} ms, on the page after ${shown} ms`);
    await cell(page, 'default/web', 'phase', /^Running$/).waitFor(WAIT);
    // The restarted task printed its line again: the tail follows the file.
    await waitFor(async () => ((await log.textContent()) ?? '').split('hello-from-web').length === 3, { what: 'the second run in the page\'s log tail', timeoutMs: 30_000 });
    await page.locator('#actions-body tr', { hasText: 'default/web' }).filter({ hasText: 'restart' }).waitFor(WAIT);

    // A broken file is a problem of its source, with the file named.
    s.write('bad.yaml', 'apiVersion: converge.dev/v1alpha1\nkind: Container\nmetadata: {name: Bad_Name}\nspec: {image: busybox}\n');
    await page.locator(`#sources .source[data-source="dir:${s.specDir}"] ul.problems li`, { hasText: 'bad.yaml' }).waitFor(WAIT);

    assert.equal(navigations, 1, 'the page updated in place: no reload');
    assert.deepEqual(problems, [], 'no script error and no Content-Security-Policy violation');
    const elsewhere = requests.filter((u) => new URL(u).host !== c.listen);
    assert.deepEqual(elsewhere, [], 'every request went to converge');
    assert.ok(requests.some((u) => u.endsWith('/v1/events')) && requests.some((u) => u.includes('/v1/logs/default/web?tail=')), requests.join('\n'));
  });

  it('serves log tails bounded and names validated, and caps event streams', async (t) => {
    const s = await env.scenario(t, 'pagelogs');
    const c = await s.run();
    s.write('chatty.yaml', container('chatty', { command: ['/bin/sh', '-c'], args: ['i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done; trap "exit 0" TERM; sleep 3600 & wait'] }));
    await waitFor(async () => {
      const r = await c.http('/v1/logs/default/chatty?tail=5');
      return r.status === 200 && (JSON.parse(r.body) as { lines: string[] }).lines.at(-1) === 'line-2999' ? r : undefined;
    }, { what: 'the last line in the tail', timeoutMs: 30_000 });
    const five = JSON.parse((await c.http('/v1/logs/default/chatty?tail=5')).body) as { lines: string[]; partial: boolean };
    assert.deepEqual(five.lines, ['line-2995', 'line-2996', 'line-2997', 'line-2998', 'line-2999']);
    assert.equal(five.partial, true);
    const most = JSON.parse((await c.http('/v1/logs/default/chatty?tail=1000')).body) as { lines: string[] };
    assert.equal(most.lines.length, 1000);
    assert.equal((await c.http('/v1/logs/default/chatty?tail=1001')).status, 400);
    assert.equal((await c.http('/v1/logs/default/chatty?tail=-1')).status, 400);
    assert.equal((await c.http('/v1/logs/default/Chatty')).status, 400);
    assert.equal((await c.http('/v1/logs/default/..%2Fx')).status, 400);
    assert.equal((await c.http('/v1/logs/default/a/b')).status, 400);
    assert.equal((await c.http('/v1/logs/default/nobody')).status, 404);
    // A page elsewhere whose name was rebound to 127.0.0.1 sends its own name as Host.
    for (const p of ['/', '/v1/events', '/v1/logs/default/chatty']) assert.equal(await statusWithHost(c.listen, p, 'rebound.example'), 403, p);
    assert.equal(await statusWithHost(c.listen, '/v1/logs/default/chatty', `localhost:${c.listen.split(':')[1]}`), 200);

    // Eight streams at once (the default cap); the ninth is refused and the others stay.
    const streams = await Promise.all(Array.from({ length: 8 }, () => fetch(`http://${c.listen}/v1/events`)));
    const readers = streams.map((r) => r.body!.getReader());
    t.after(() => readers.forEach((r) => void r.cancel()));
    assert.deepEqual(streams.map((r) => r.status), Array(8).fill(200));
    assert.equal(streams[0].headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const first = await readers[0].read();
    assert.match(Buffer.from(first.value!).toString(), /^retry: 2000\n\n(event: status\ndata: \{)?/);
    const ninth = await c.http('/v1/events');
    assert.equal(ninth.status, 503);
    assert.equal((await c.http('/healthz')).status, 200);
  });
});
