// Platforms (os/architecture/variant): this host's, parsed from a flag, normalised as
// containerd's platforms package does, and matched against an index's entries (which
// manifest of a multi-platform image this machine runs).

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Node's arch names in OCI terms, normalised as containerd's platforms package does. */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() ?? '';
  const aliases: Record<string, string> = { x64: 'amd64', x86_64: 'amd64', 'x86-64': 'amd64', ia32: '386', i386: '386', aarch64: 'arm64' };
  arch = aliases[arch] ?? arch;
  if (arch === 'armhf') [arch, variant] = ['arm', 'v7'];
  if (arch === 'armel') [arch, variant] = ['arm', 'v6'];
  if (arch === 'amd64' && variant === 'v1') variant = '';
  if (arch === 'arm64' && (variant === 'v8' || variant === '8')) variant = '';
  if (arch === 'arm') {
    if (variant === '') variant = 'v7';
    else if (/^[0-9]+$/.test(variant)) variant = `v${variant}`;
  }
  return variant ? { os, architecture: arch, variant } : { os, architecture: arch };
}

/** This host's platform (Linux only: converge runs where containerd runs). */
export function hostPlatform(): Platform {
  const archMap: Record<string, string> = { x64: 'amd64', ia32: '386', ppc64: process.platform === 'linux' ? 'ppc64le' : 'ppc64' };
  const architecture = archMap[process.arch] ?? process.arch;
  const armVersion = (process.config.variables as Record<string, unknown>).arm_version;
  const variant = architecture === 'arm' && armVersion ? `v${String(armVersion)}` : undefined;
  return normalizePlatform({ os: 'linux', architecture, variant });
}

/** Parses "linux/arm64/v8", "linux/amd64" or a bare architecture ("arm64": linux). */
export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().split('/');
  if (parts.length > 3 || parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw new Error(`platform '${spec}': expected os/arch[/variant], e.g. linux/arm64/v8`);
  }
  if (parts.length === 1) return normalizePlatform({ os: 'linux', architecture: parts[0] });
  const [os, architecture, variant] = parts;
  return normalizePlatform({ os, architecture, variant });
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** "vN" as N; `fallback` for no variant. */
function variantNumber(variant: string | undefined, fallback: number): number {
  const m = /^v([0-9]+)$/.exec(variant ?? '');
  return m ? Number(m[1]) : fallback;
}

/**
 * The platforms `p` runs, best first. amd64 vN runs vN..v1 (no variant is v1) and 386;
 * arm64 runs arm64 and arm v8..v5; arm vN runs arm vN..v5.
 */
export function compatiblePlatforms(p: Platform): Platform[] {
  const host = normalizePlatform(p);
  const out: Platform[] = [];
  const add = (architecture: string, variant?: string): void => {
    out.push(variant ? { os: host.os, architecture, variant } : { os: host.os, architecture });
  };
  const arm = (from: number): void => {
    for (let n = from; n >= 5; n--) add('arm', `v${n}`);
  };
  switch (host.architecture) {
    case 'amd64':
      for (let n = variantNumber(host.variant, 1); n >= 2; n--) add('amd64', `v${n}`);
      add('amd64');
      add('386');
      break;
    case 'arm64':
      add('arm64', host.variant);
      if (host.variant) add('arm64');
      arm(8);
      break;
    case 'arm':
      arm(variantNumber(host.variant, 7));
      break;
    default:
      add(host.architecture, host.variant);
  }
  return out;
}

function same(a: Platform, b: Platform): boolean {
  const x = normalizePlatform(a);
  const y = normalizePlatform(b);
  return x.os === y.os && x.architecture === y.architecture && (x.variant ?? '') === (y.variant ?? '');
}

/** Whether a machine of platform `host` runs an image built for `candidate`. */
export function platformMatches(host: Platform, candidate: Platform): boolean {
  return compatiblePlatforms(host).some((p) => same(p, candidate));
}

/**
 * The index entry `host` runs best; undefined when none fits. An entry naming no platform
 * fits any (as in containerd), after every entry that names a fitting one.
 */
export function selectManifest<T extends { digest: string; platform?: Platform }>(entries: readonly T[], host: Platform = hostPlatform()): T | undefined {
  for (const want of compatiblePlatforms(host)) {
    const hit = entries.find((e) => e.platform && same(e.platform, want));
    if (hit) return hit;
  }
  return entries.find((e) => !e.platform);
}
