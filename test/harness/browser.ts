// A real headless browser for the status page's tests and its screenshot: Debian's chromium
// (installed by scripts/setup.sh) driven by playwright-core, which downloads no browser of
// its own. A fresh profile per launch, and chromium's own traffic (updates, sync, field
// trials) off, so that the only requests are the page's. A missing chromium fails loudly:
// the browser test must never pass by not running.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CONVERGE_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(opts: { viewport?: { width: number; height: number }; deviceScaleFactor?: number } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM}: the status page's browser test needs Debian's chromium (apt-get install chromium, as scripts/setup.sh does; CONVERGE_CHROMIUM=PATH for another)`);
  }
  const profile = mkdtempSync(path.join(os.tmpdir(), 'converge-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: opts.viewport ?? { width: 1400, height: 900 },
      deviceScaleFactor: opts.deviceScaleFactor,
      timeout: 60_000,
    });
    return {
      context,
      async close() {
        await context.close().catch(() => undefined);
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}
