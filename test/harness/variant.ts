// New images under an old tag, for the auto-update tests: the busybox test image as pushed
// under `source`, plus one small layer holding /etc/variant with the given text, pushed as
// REPO:TAG through the registry's API. The same spec then behaves differently by image
// (a script reads /etc/variant), and each push is a new digest.

import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { getManifest, putManifest, uploadBlob, type Registry } from './registry.js';
import { tar } from './tar.js';

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Pushes busybox + /etc/variant=`text` as REPO:TAG; returns the new manifest's digest. */
export async function pushVariant(registry: Registry, repo: string, tag: string, source: string, text: string): Promise<string> {
  const base = await getManifest(registry, repo, source);
  const manifest = JSON.parse(base.data.toString()) as { config: { digest: string; mediaType: string }; layers: unknown[]; mediaType?: string };
  const res = await fetch(`http://${registry.host}/v2/${repo}/blobs/${manifest.config.digest}`);
  if (!res.ok) throw new Error(`config of ${repo}:${source}: ${res.status}`);
  const config = JSON.parse(Buffer.from(await res.arrayBuffer()).toString()) as { rootfs: { diff_ids: string[] }; created?: string };
  const layerTar = tar([
    { type: 'dir', path: 'etc', mode: 0o755 },
    { type: 'file', path: 'etc/variant', mode: 0o644, data: Buffer.from(`${text}\n`) },
  ]);
  const layer = await uploadBlob(registry, repo, gzipSync(layerTar), 'application/vnd.oci.image.layer.v1.tar+gzip');
  config.rootfs.diff_ids = [...config.rootfs.diff_ids, sha256(layerTar)];
  config.created = new Date().toISOString(); // two pushes of the same text are two images
  const newConfig = await uploadBlob(registry, repo, Buffer.from(JSON.stringify(config)), manifest.config.mediaType);
  const next = { ...manifest, config: newConfig, layers: [...manifest.layers, layer] };
  return putManifest(registry, repo, tag, base.mediaType, Buffer.from(JSON.stringify(next)));
}
