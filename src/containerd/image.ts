// Reads an image's config the way containerd's client does: image record -> target
// (index or manifest) -> the manifest for this host's platform -> config blob; and
// computes the chain ID of its layers, which names the unpacked snapshot to build on.

import { type Descriptor, MEDIA_TYPES, chainIds } from '../pull/descriptor.js';
import { type Platform, formatPlatform, hostPlatform, selectManifest } from '../pull/platform.js';
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

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList]);
const MANIFEST_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]);

/** Manifests and configs are small; anything past this is not one. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;
/** An index may point at indexes; real images nest at most once. */
const MAX_DEPTH = 4;
const CACHE_SIZE = 256;

/** The chain ID of the top layer; an image without layers has no rootfs to build on. */
export function chainIdOf(diffIds: readonly string[]): string {
  if (diffIds.length === 0) throw new InvalidArgumentError('image has no layers (rootfs.diff_ids is empty)');
  return chainIds(diffIds).at(-1)!;
}

interface IndexEntry {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: Platform;
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
    const entry = selectManifest(entries, this.platform);
    if (!entry) throw new NotFoundError(`image ${name}: no manifest for ${formatPlatform(this.platform)} in ${desc.digest}`);
    return this.findManifest(name, entry, depth + 1, opts);
  }
}
