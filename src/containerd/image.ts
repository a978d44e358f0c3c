// Reads an image's config the way containerd's client does: image record -> target
// (index or manifest) -> the manifest for this host's platform -> config blob; and
// computes the chain ID of its layers, which names the unpacked snapshot to build on.

import { createHash } from 'node:crypto';
import { type Descriptor, MEDIA_TYPES } from '../pull/descriptor.js';
import type { ImageConfig } from '../spec/types.js';
import type { CallOptions } from './client.js';
import type { ContentService } from './content.js';
import { InvalidArgumentError, NotFoundError } from './errors.js';
import type { ImagesService } from './images.js';

export interface ImageInfo {
  imageName: string;
  /** Digest of the image record's target (index or manifest). */
  targetDigest: string;
  /** Digest of the manifest chosen for this host. */
  manifestDigest: string;
  config: ImageConfig;
  /** Chain ID of the layers: the key of the committed snapshot of the unpacked image. */
  chainId: string;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList]);
const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);

/** Manifests and configs are small; anything past this is not one. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;
/** An index may point at indexes; real images nest at most once. */
const MAX_DEPTH = 4;
const CACHE_SIZE = 256;

/** chainID(1) = diffID(1); chainID(n) = sha256(chainID(n-1) + " " + diffID(n)). */
export function chainIdOf(diffIds: readonly string[]): string {
  if (diffIds.length === 0) throw new InvalidArgumentError('image has no layers (rootfs.diff_ids is empty)');
  let chain = diffIds[0];
  for (const diff of diffIds.slice(1)) {
    chain = `sha256:${createHash('sha256').update(`${chain} ${diff}`).digest('hex')}`;
  }
  return chain;
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

/**
 * Platforms the host runs, best first (containerd's platforms.Only): the host's own, then
 * older arm variants, 32-bit arm on arm64, 386 on amd64.
 */
export function platformPreference(host: Platform): Platform[] {
  const out: Platform[] = [host];
  const armFrom = (v: number): void => {
    for (let n = v; n >= 5; n--) out.push({ os: host.os, architecture: 'arm', variant: `v${n}` });
  };
  if (host.architecture === 'amd64') out.push({ os: host.os, architecture: '386' });
  if (host.architecture === 'arm') armFrom(Number((host.variant ?? 'v7').slice(1)) - 1);
  if (host.architecture === 'arm64') armFrom(8);
  return out;
}

function samePlatform(a: Platform, b: Platform): boolean {
  const x = normalizePlatform(a);
  const y = normalizePlatform(b);
  return x.os === y.os && x.architecture === y.architecture && (x.variant ?? '') === (y.variant ?? '');
}

interface IndexEntry {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: Platform;
}

/** The index entry for the best platform the host runs; undefined when none fits. */
export function chooseManifest(entries: readonly IndexEntry[], host: Platform = hostPlatform()): IndexEntry | undefined {
  for (const want of platformPreference(host)) {
    const hit = entries.find((e) => e.platform && samePlatform(e.platform, want));
    if (hit) return hit;
  }
  // containerd takes an entry that names no platform as fitting any (single-image layouts).
  return entries.find((e) => !e.platform);
}

function parseJson(data: Buffer, what: string): Record<string, unknown> {
  try {
    const value = JSON.parse(data.toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`${what} is not valid JSON`, { cause: err });
  }
  throw new InvalidArgumentError(`${what} is not a JSON object`);
}

function stringArray(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined;
}

/** The runtime-relevant fields of an image config's "config" object. */
export function imageConfigOf(config: Record<string, unknown>): ImageConfig {
  const c = (config.config ?? {}) as Record<string, unknown>;
  const out: ImageConfig = {};
  if (typeof c.User === 'string' && c.User) out.User = c.User;
  if (typeof c.WorkingDir === 'string' && c.WorkingDir) out.WorkingDir = c.WorkingDir;
  if (typeof c.StopSignal === 'string' && c.StopSignal) out.StopSignal = c.StopSignal;
  const env = stringArray(c.Env);
  const entrypoint = stringArray(c.Entrypoint);
  const cmd = stringArray(c.Cmd);
  if (env) out.Env = env;
  if (entrypoint) out.Entrypoint = entrypoint;
  if (cmd) out.Cmd = cmd;
  return out;
}

export class ImageResolver {
  /** By target digest: an image's content never changes under a digest. */
  private readonly cache = new Map<string, Omit<ImageInfo, 'imageName'>>();

  constructor(
    private readonly images: ImagesService,
    private readonly content: ContentService,
    private readonly platform: Platform = hostPlatform(),
  ) {}

  /** The config and chain ID of image `name`. NotFound when the image or platform is missing. */
  async resolve(name: string, opts?: CallOptions): Promise<ImageInfo> {
    const image = await this.images.get(name, opts);
    const cached = this.cache.get(image.target.digest);
    if (cached) return { imageName: name, ...cached };
    const manifest = await this.findManifest(name, image.target, 0, opts);
    const configDesc = manifest.json.config as Descriptor & { digest?: unknown } | undefined;
    if (!configDesc || typeof configDesc.digest !== 'string') {
      throw new InvalidArgumentError(`image ${name}: manifest ${manifest.digest} has no config descriptor`);
    }
    const config = parseJson(await this.read(configDesc.digest, opts), `image ${name}: config ${configDesc.digest}`);
    const rootfs = (config.rootfs ?? {}) as Record<string, unknown>;
    const diffIds = stringArray(rootfs.diff_ids);
    if (!diffIds) throw new InvalidArgumentError(`image ${name}: config has no rootfs.diff_ids`);
    const info = {
      targetDigest: image.target.digest,
      manifestDigest: manifest.digest,
      config: imageConfigOf(config),
      chainId: chainIdOf(diffIds),
    };
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(image.target.digest, info);
    return { imageName: name, ...info };
  }

  private read(digest: string, opts?: CallOptions): Promise<Buffer> {
    return this.content.read(digest, MAX_JSON_BYTES, opts);
  }

  private async findManifest(
    name: string,
    desc: { mediaType?: string; digest: string },
    depth: number,
    opts?: CallOptions,
  ): Promise<{ digest: string; json: Record<string, unknown> }> {
    if (depth > MAX_DEPTH) throw new InvalidArgumentError(`image ${name}: indexes nested deeper than ${MAX_DEPTH}`);
    const json = parseJson(await this.read(desc.digest, opts), `image ${name}: blob ${desc.digest}`);
    // Media types may be missing on older records; the JSON's shape says what it is then.
    const mediaType = desc.mediaType || (typeof json.mediaType === 'string' ? json.mediaType : '');
    const isIndex = INDEX_TYPES.has(mediaType) || (!MANIFEST_TYPES.has(mediaType) && Array.isArray(json.manifests));
    if (!isIndex) return { digest: desc.digest, json };
    const entries = (Array.isArray(json.manifests) ? json.manifests : []) as IndexEntry[];
    const entry = chooseManifest(entries, this.platform);
    if (!entry) {
      const p = this.platform;
      throw new NotFoundError(
        `image ${name}: no manifest for ${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''} in ${desc.digest}`,
      );
    }
    return this.findManifest(name, entry, depth + 1, opts);
  }
}
