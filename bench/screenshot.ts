// Takes docs/status-page.png: the status page of a real converge on examples/ (plus a task
// that keeps failing and a spec file with a typo, so that back-off and source problems show),
// run the way the tests run it (a private containerd, a fresh namespace with the busybox
// image), photographed by Debian's chromium through playwright-core.
//
//   node dist/bench/screenshot.js [OUT.png]      (root; after npx tsc -p tsconfig.json)

import { copyFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { launchChromium } from '../test/harness/browser.js';
import { container, Env, Scenario, sh } from '../test/integration/util.js';

const root = path.resolve(import.meta.dirname, '../..');

async function main(out: string): Promise<void> {
  const env = await Env.start('converge-shot-');
  const browser = await launchChromium({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
  try {
    const { namespace, dir } = await env.fresh('shot');
    const s = new Scenario(env, namespace, dir);
    try {
      await shoot(s, browser, out);
    } finally {
      await s.cleanup();
    }
  } finally {
    await browser.close();
    await env.cleanup();
  }
}

async function shoot(s: Scenario, browser: Awaited<ReturnType<typeof launchChromium>>, out: string): Promise<void> {
  const examples = path.join(root, 'examples');
  for (const f of readdirSync(examples).filter((f) => f.endsWith('.yaml'))) copyFileSync(path.join(examples, f), path.join(s.specDir, f));
  s.write('flaky.yaml', container('flaky', { ...sh('echo starting; sleep 1; echo "cannot reach upstream" >&2; exit 1'), restartPolicy: 'Always' }, { namespace: 'shop' }));
  s.write('typo.yaml', 'apiVersion: converge.dev/v1alpha1\nkind: Container\nmetadata: {name: cache}\nspec:\n  image: localhost/busybox:latest\n  restartPolicy: Allways\n');
  const c = await s.run(['--backoff-initial', '2s', '--backoff-max', '20s']);
  const page = await browser.context.newPage();
  await page.goto(`http://${c.listen}/`);
  const row = (key: string, field: string, text: RegExp) =>
    page.locator(`tr.container[data-key="${key}"] td[data-field="${field}"]`, { hasText: text }).waitFor({ timeout: 60_000 });
  await row('default/ticker', 'phase', /^Running$/);
  await row('default/db', 'health', /^Healthy/);
  await row('default/app', 'phase', /^Running$/);
  await row('default/once', 'phase', /^Exited$/);
  await row('shop/flaky', 'restarts', /^[2-9]$/);
  await row('shop/flaky', 'phase', /^BackOff$/);
  await page.locator('tr.logs[data-key="default/ticker"] pre', { hasText: 'tick 3' }).waitFor({ timeout: 60_000 });
  await page.screenshot({ path: out, fullPage: true });
  process.stdout.write(`wrote ${out}\n`);
}

main(path.resolve(process.argv[2] ?? path.join(root, 'docs/status-page.png'))).catch((err: unknown) => {
  process.stderr.write(`screenshot: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
