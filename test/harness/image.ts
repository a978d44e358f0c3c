// Builds the test image (Debian's static busybox, one layer) as an OCI image-layout archive,
// once per machine and busybox build, and imports it into a containerd namespace.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ctr, HarnessError } from './exec.js';
import { tar, type TarEntry } from './tar.js';

export const BUSYBOX_IMAGE = 'localhost/busybox:latest';
export const BUSYBOX_BIN = '/bin/busybox';

/** Bump when the image's layout changes, so cached archives of the old one are not reused. */
const FORMAT_VERSION = 1;

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'app:x:1000:1000:app:/tmp:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');

const GROUP = ['root:x:0:', 'app:x:1000:', 'nogroup:x:65534:', ''].join('\n');

/** Node's process.arch in OCI/Go terms. */
export function ociArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[arch] ?? arch;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The layer's entries: busybox, a symlink per applet where Debian would put it, /etc basics. */
export function rootfsEntries(busybox: Buffer, appletPaths: readonly string[]): TarEntry[] {
  const entries = new Map<string, TarEntry>();
  const dir = (p: string, mode = 0o755): void => {
    entries.set(p, { type: 'dir', path: p, mode });
  };
  for (const d of ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev']) dir(d);
  dir('root', 0o700);
  dir('tmp', 0o1777);
  entries.set('bin/busybox', { type: 'file', path: 'bin/busybox', mode: 0o755, data: busybox });
  entries.set('etc/passwd', { type: 'file', path: 'etc/passwd', mode: 0o644, data: Buffer.from(PASSWD) });
  entries.set('etc/group', { type: 'file', path: 'etc/group', mode: 0o644, data: Buffer.from(GROUP) });
  for (const applet of appletPaths) {
    if (entries.has(applet) || !entries.has(path.posix.dirname(applet))) continue; // /linuxrc has no place here
    entries.set(applet, { type: 'symlink', path: applet, target: '/bin/busybox' });
  }
  // Sorted by path: a parent always sorts before its children (it is their prefix).
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

interface Blob {
  digest: string;
  size: number;
  data: Buffer;
}

function blob(data: Buffer | string): Blob {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  return { digest: `sha256:${sha256(buf)}`, size: buf.length, data: buf };
}

/** The OCI image-layout archive for a rootfs layer tar (uncompressed). */
export function ociArchive(layerTar: Buffer, arch: string): Buffer {
  // level 9 and Node's gzip header (mtime 0, no name) make the bytes a function of the input.
  const layer = blob(gzipSync(layerTar, { level: 9 }));
  const config = blob(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
      // Single layer: its diff ID (the uncompressed digest) is also its chain ID.
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layerTar)}`] },
    }),
  );
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
    }),
  );
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: manifest.digest,
        size: manifest.size,
        platform: { architecture: arch, os: 'linux' },
        annotations: {
          // containerd's import takes this name as is (no --base-name prefixing); the OCI
          // ref name is for other tools reading the layout.
          'io.containerd.image.name': BUSYBOX_IMAGE,
          'org.opencontainers.image.ref.name': 'latest',
        },
      },
    ],
  });
  const blobs = [layer, config, manifest].sort((a, b) => (a.digest < b.digest ? -1 : 1));
  return tar([
    { type: 'dir', path: 'blobs', mode: 0o755 },
    { type: 'dir', path: 'blobs/sha256', mode: 0o755 },
    ...blobs.map((b): TarEntry => ({ type: 'file', path: `blobs/sha256/${b.digest.slice(7)}`, mode: 0o644, data: b.data })),
    { type: 'file', path: 'index.json', mode: 0o644, data: Buffer.from(index) },
    { type: 'file', path: 'oci-layout', mode: 0o644, data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
  ]);
}

let building: Promise<string> | undefined;

/** Path of the archive; built once per busybox binary and format version, then reused. */
export function buildBusyboxArchive(): Promise<string> {
  building ??= Promise.resolve().then(() => {
    const busybox = readFileSync(BUSYBOX_BIN);
    const arch = ociArch();
    const key = sha256(`${FORMAT_VERSION}\n${arch}\n${sha256(busybox)}`).slice(0, 16);
    const file = path.join(os.tmpdir(), `converge-test-image-${key}.tar`);
    if (existsSync(file)) return file;
    const applets = execFileSync(BUSYBOX_BIN, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    const archive = ociArchive(tar(rootfsEntries(busybox, applets)), arch);
    // Other test processes may build it at the same moment: write aside, then rename (atomic).
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, archive);
    renameSync(tmp, file);
    return file;
  });
  return building;
}

/**
 * Imports (and unpacks, for the default overlayfs snapshotter) the image; returns its name.
 * ctr 1.x prints "unpacking NAME (DIGEST)...done" per image; ctr 2.x imports through the
 * transfer service and prints "NAME saved" and progress instead, so the proof is what
 * containerd then holds: the image under its name and its layer committed as a snapshot.
 */
export async function importBusybox(address: string, namespace: string): Promise<string> {
  const archive = await buildBusyboxArchive();
  const { stdout } = await ctr(address, ['images', 'import', '--platform', `linux/${ociArch()}`, archive], {
    namespace,
    timeoutMs: 60_000,
  });
  const images = await ctr(address, ['images', 'ls', '-q'], { namespace });
  const snapshots = await ctr(address, ['snapshots', 'ls'], { namespace });
  if (!images.stdout.split('\n').includes(BUSYBOX_IMAGE) || !/\sCommitted\s*$/m.test(snapshots.stdout)) {
    throw new HarnessError('HARNESS_IMPORT_FAILED', `ctr images import did not unpack ${BUSYBOX_IMAGE}: ${stdout.trim()}`);
  }
  return BUSYBOX_IMAGE;
}
