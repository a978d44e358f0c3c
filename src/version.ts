// converge's version, read from package.json when this module loads (never written twice:
// `converge version`, the registry User-Agent and the build_info metric all say this one).
// package.json sits at the package root; this module runs from src/ or dist/src/.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'converge' && typeof pkg.version === 'string') return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find converge's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The version of package.json, e.g. "0.1.0". */
export const VERSION: string = readVersion();

/** What converge says it is to registries: "converge/0.1.0". */
export const USER_AGENT = `converge/${VERSION}`;
