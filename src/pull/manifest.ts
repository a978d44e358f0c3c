// The JSON documents of an image, checked as they are read: an index (OCI index or Docker
// manifest list) names one manifest per platform; a manifest names a config and layers;
// the config lists the layers' diff IDs. Anything else is refused with a reason.

import { type Descriptor, MEDIA_TYPES } from './descriptor.js';
import { UnsupportedImageError } from './errors.js';
import type { Platform } from './platform.js';
import { quote } from '../spec/quote.js';
import { validateDigest } from '../spec/reference.js';

export type DocumentKind = 'index' | 'manifest';

export interface IndexEntry extends Descriptor {
  platform?: Platform;
}

export interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
}

const CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);
const SCHEMA1 = /^application\/vnd\.docker\.distribution\.manifest\.v1\+(prettyjws|json)$/;

function parseObject(data: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new UnsupportedImageError(`${what} is not JSON`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UnsupportedImageError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Index or manifest, from the media type the registry sent, else the document's own, else its shape. */
export function kindOf(mediaType: string, data: Buffer, what: string): DocumentKind {
  const json = parseObject(data, what);
  const type = mediaType && mediaType !== 'application/json' && mediaType !== 'application/octet-stream' ? mediaType : String(json.mediaType ?? '');
  if (SCHEMA1.test(type) || json.schemaVersion === 1) {
    throw new UnsupportedImageError(`${what} is a Docker schema 1 manifest; push the image again with a current client`);
  }
  if (type === MEDIA_TYPES.ociIndex || type === MEDIA_TYPES.dockerList) return 'index';
  if (type === MEDIA_TYPES.ociManifest || type === MEDIA_TYPES.dockerManifest) return 'manifest';
  if (Array.isArray(json.manifests)) return 'index';
  if (json.config !== undefined && Array.isArray(json.layers)) return 'manifest';
  throw new UnsupportedImageError(`${what} has media type ${quote(type)}, which is not an image index or manifest`);
}

function descriptor(v: unknown, what: string): Descriptor {
  const d = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  if (typeof d.digest !== 'string') throw new UnsupportedImageError(`${what}: descriptor without a digest`);
  try {
    validateDigest(d.digest);
  } catch (err) {
    throw new UnsupportedImageError(`${what}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new UnsupportedImageError(`${what}: descriptor ${d.digest} has no valid size`);
  }
  const annotations: Record<string, string> = {};
  if (typeof d.annotations === 'object' && d.annotations !== null) {
    for (const [k, val] of Object.entries(d.annotations)) if (typeof val === 'string') annotations[k] = val;
  }
  return { mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', digest: d.digest, size: d.size, annotations };
}

function platformOf(v: unknown): Platform | undefined {
  const p = (typeof v === 'object' && v !== null ? v : undefined) as Record<string, unknown> | undefined;
  if (!p || typeof p.os !== 'string' || typeof p.architecture !== 'string') return undefined;
  return typeof p.variant === 'string' && p.variant ? { os: p.os, architecture: p.architecture, variant: p.variant } : { os: p.os, architecture: p.architecture };
}

export function parseIndex(data: Buffer, what: string): IndexEntry[] {
  const json = parseObject(data, what);
  if (!Array.isArray(json.manifests)) throw new UnsupportedImageError(`${what}: index without manifests`);
  return json.manifests.map((m, i) => {
    const entry: IndexEntry = descriptor(m, `${what} manifests[${i}]`);
    const platform = platformOf((m as Record<string, unknown>).platform);
    if (platform) entry.platform = platform;
    return entry;
  });
}

export function parseManifest(data: Buffer, what: string): ImageManifest {
  const json = parseObject(data, what);
  const config = descriptor(json.config, `${what} config`);
  if (!CONFIG_TYPES.has(config.mediaType)) {
    throw new UnsupportedImageError(`${what}: config type ${quote(config.mediaType)} is not a container image (an artifact?)`);
  }
  if (!Array.isArray(json.layers)) throw new UnsupportedImageError(`${what}: manifest without layers`);
  const layers = json.layers.map((l, i) => descriptor(l, `${what} layers[${i}]`));
  for (const layer of layers) {
    if (!LAYER_TYPES.has(layer.mediaType)) throw new UnsupportedImageError(`${what}: layer ${layer.digest} has type ${quote(layer.mediaType)}, which converge cannot unpack`);
  }
  return { config, layers };
}

/** The layers' diff IDs (uncompressed digests), in order. */
export function parseDiffIds(data: Buffer, what: string, layerCount: number): string[] {
  const json = parseObject(data, what);
  const rootfs = (json.rootfs ?? {}) as Record<string, unknown>;
  const ids = rootfs.diff_ids;
  if (!Array.isArray(ids) || !ids.every((d) => typeof d === 'string')) throw new UnsupportedImageError(`${what}: no rootfs.diff_ids`);
  if (ids.length !== layerCount) throw new UnsupportedImageError(`${what}: ${ids.length} diff IDs for ${layerCount} layers`);
  for (const id of ids as string[]) {
    try {
      validateDigest(id);
    } catch (err) {
      throw new UnsupportedImageError(`${what}: diff ID ${quote(id)} is not a digest`, { cause: err });
    }
  }
  return ids as string[];
}
