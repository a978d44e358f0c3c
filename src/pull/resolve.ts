// Resolves a reference at the registry to the one manifest this machine runs: the
// document the tag or digest names (verified against the digest, and against the digest
// the registry claims), and when that is an index, the manifest for the platform.

import { type Descriptor, MEDIA_TYPES, digestOf, verifyBytes } from './descriptor.js';
import { DigestMismatchError, NoMatchingPlatformError, UnsupportedImageError } from './errors.js';
import { type ImageManifest, kindOf, parseIndex, parseManifest } from './manifest.js';
import { type Platform, formatPlatform, selectManifest } from './platform.js';
import type { Reference } from '../spec/reference.js';
import type { Repository } from './registry.js';
import { remoteText } from './response.js';

export interface Resolved {
  /** What the reference names: the image record's target. */
  target: Descriptor;
  targetData: Buffer;
  /** Set when the target is an index: the entry chosen for the platform. */
  index?: { entries: Descriptor[] };
  manifestDesc: Descriptor;
  manifestData: Buffer;
  manifest: ImageManifest;
}

export async function resolve(repo: Repository, ref: Reference, name: string, platform: Platform, signal?: AbortSignal): Promise<Resolved> {
  const top = await repo.manifest(ref.digest ?? ref.tag ?? 'latest', signal);
  const digest = digestOf(top.data);
  if (ref.digest && ref.digest !== digest) {
    throw new DigestMismatchError(`${name}: registry sent a manifest that hashes to ${digest}; refused`);
  }
  const claimed = top.descriptor.digest;
  if (claimed.startsWith('sha256:') && claimed !== digest) {
    throw new DigestMismatchError(`${name}: registry says the manifest is ${remoteText(claimed)}, but it hashes to ${digest}; refused`);
  }
  const kind = kindOf(top.descriptor.mediaType, top.data, `${name} (${digest})`);
  const target: Descriptor = {
    mediaType: top.descriptor.mediaType || (kind === 'index' ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest),
    digest,
    size: top.data.length,
    annotations: {},
  };
  if (kind === 'manifest') {
    return { target, targetData: top.data, manifestDesc: target, manifestData: top.data, manifest: parseManifest(top.data, `manifest ${digest}`) };
  }
  const entries = parseIndex(top.data, `index ${digest}`);
  const chosen = selectManifest(entries, platform);
  if (!chosen) {
    const offered = entries.map((e) => (e.platform ? formatPlatform(e.platform) : '(none)')).join(', ');
    throw new NoMatchingPlatformError(`${name}: no manifest for ${formatPlatform(platform)} (the index has ${remoteText(offered)})`);
  }
  const child = await repo.manifest(chosen.digest, signal);
  verifyBytes(chosen, child.data);
  const mediaType = chosen.mediaType || child.descriptor.mediaType;
  if (kindOf(mediaType, child.data, `manifest ${chosen.digest}`) !== 'manifest') {
    throw new UnsupportedImageError(`${name}: an index inside an index is not supported (${chosen.digest})`);
  }
  const manifestDesc: Descriptor = { mediaType, digest: chosen.digest, size: chosen.size, annotations: {} };
  return {
    target,
    targetData: top.data,
    index: { entries: [manifestDesc] },
    manifestDesc,
    manifestData: child.data,
    manifest: parseManifest(child.data, `manifest ${chosen.digest}`),
  };
}
