// Reading an image's /etc/passwd and /etc/group (containerd/user.ts readInside) from a
// directory that stands in for a mounted image: only regular files inside the image are
// read, and nothing the image puts there can hang converge or make it read the host.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInside } from '../../src/containerd/user.js';

describe('readInside (the image\'s user files)', () => {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'converge-userfiles-')));
  after(() => rmSync(base, { recursive: true, force: true }));
  let n = 0;
  /** An "image" root with an etc/ and whatever `make` puts in it. */
  const image = (make: (etc: string) => void): string => {
    const root = join(base, `img-${++n}`);
    mkdirSync(join(root, 'etc'), { recursive: true });
    make(join(root, 'etc'));
    return root;
  };

  it('reads a regular file', async () => {
    const root = image((etc) => writeFileSync(join(etc, 'passwd'), 'root:x:0:0::/root:/bin/sh\n'));
    assert.equal(await readInside(root, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  });
  it('a missing file is undefined', async () => {
    assert.equal(await readInside(image(() => undefined), 'etc/passwd'), undefined);
  });
  it('a FIFO is not opened for reading: undefined at once, not a hang', async () => {
    const root = image((etc) => execFileSync('mkfifo', [join(etc, 'passwd')]));
    assert.equal(await readInside(root, 'etc/passwd'), undefined);
  });
  it('a device is not read', async () => {
    const root = image((etc) => symlinkSync('/dev/zero', join(etc, 'passwd')));
    assert.equal(await readInside(root, 'etc/passwd'), undefined, 'a symlink out of the image');
    const inside = image((etc) => execFileSync('mknod', [join(etc, 'group'), 'c', '1', '5']));
    assert.equal(await readInside(inside, 'etc/group'), undefined, 'a device node inside the image');
  });
  it('a directory is not read', async () => {
    assert.equal(await readInside(image((etc) => mkdirSync(join(etc, 'passwd'))), 'etc/passwd'), undefined);
  });
  it('a symlink inside the image is followed; one leading out (or a parent that does) is not', async () => {
    const root = image((etc) => {
      writeFileSync(join(etc, 'passwd.real'), 'app:x:1000:1000::/:/bin/sh\n');
      symlinkSync('passwd.real', join(etc, 'passwd'));
      symlinkSync('/etc/hostname', join(etc, 'group'));
    });
    assert.equal(await readInside(root, 'etc/passwd'), 'app:x:1000:1000::/:/bin/sh\n');
    assert.equal(await readInside(root, 'etc/group'), undefined);
    const escape = join(base, `img-${++n}`);
    mkdirSync(escape);
    symlinkSync('/etc', join(escape, 'etc'));
    assert.equal(await readInside(escape, 'etc/passwd'), undefined);
  });
  it('a file over 1 MiB is undefined', async () => {
    const root = image((etc) => writeFileSync(join(etc, 'passwd'), Buffer.alloc((1 << 20) + 1, 'a')));
    assert.equal(await readInside(root, 'etc/passwd'), undefined);
  });
});
