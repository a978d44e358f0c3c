// How content is named, shared by both sides of a pull: the OCI descriptor (media type,
// digest, size), the media types of an image's documents, digests of bytes and the chain
// IDs of layers. pull/ owns them because it is the lower part; containerd/ stores what
// they describe.

import { createHash } from 'node:crypto';
import { DigestMismatchError } from './errors.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** Checks bytes against a descriptor (size and digest). */
export function verifyBytes(desc: Descriptor, data: Buffer): void {
  const [algorithm, hex] = desc.digest.split(':', 2);
  if (!['sha256', 'sha384', 'sha512'].includes(algorithm)) throw new DigestMismatchError(`digest ${desc.digest}: unsupported algorithm`);
  const actual = createHash(algorithm).update(data).digest('hex');
  if (actual !== hex) throw new DigestMismatchError(`${desc.mediaType || 'blob'} ${desc.digest}: content hashes to ${algorithm}:${actual}; refused`);
  if (desc.size >= 0 && data.length !== desc.size) {
    throw new DigestMismatchError(`${desc.mediaType || 'blob'} ${desc.digest}: ${data.length} bytes where the descriptor says ${desc.size}`);
  }
}

export function digestOf(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * The chain ID of each layer: the name of the snapshot that holds it and all below it.
 * chainID(1) = diffID(1); chainID(n) = sha256(chainID(n-1) + " " + diffID(n)).
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diff of diffIds) {
    const below = out.at(-1);
    out.push(below === undefined ? diff : `sha256:${createHash('sha256').update(`${below} ${diff}`).digest('hex')}`);
  }
  return out;
}
