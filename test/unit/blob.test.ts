// Blobs written through a BlobStore, here an in-memory one: what pull/ asks of a store is
// all the store interface says, so the resume, verify and refuse rules are tested without
// containerd (the integration tests run them against containerd's content store).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { fetchBlob, putBlob } from '../../src/pull/blob.js';
import { type Descriptor, digestOf } from '../../src/pull/descriptor.js';
import { DigestMismatchError } from '../../src/pull/errors.js';
import type { Repository } from '../../src/pull/registry.js';
import type { BlobStore, BlobWriter } from '../../src/pull/store.js';

class MemoryStore implements BlobStore {
  readonly blobs = new Map<string, { data: Buffer; labels: Record<string, string> }>();
  /** Unfinished writes, by digest (containerd's ingests). */
  readonly partial = new Map<string, Buffer>();
  readonly discarded: string[] = [];

  async writer(desc: Descriptor, labels: Record<string, string>): Promise<BlobWriter | undefined> {
    const have = this.blobs.get(desc.digest);
    if (have) {
      Object.assign(have.labels, labels);
      return undefined;
    }
    const store = this;
    const held = (): Buffer => store.partial.get(desc.digest) ?? Buffer.alloc(0);
    const writer: BlobWriter = {
      get offset() {
        return held().length;
      },
      get digest() {
        return digestOf(held());
      },
      async write(data, offset) {
        store.partial.set(desc.digest, Buffer.concat([held().subarray(0, offset), data]));
      },
      async commit(whole) {
        const data = whole ?? held();
        if (digestOf(data) !== desc.digest || data.length !== desc.size) {
          await writer.discard();
          throw new DigestMismatchError(`blob ${desc.digest}: the store refused it`);
        }
        store.blobs.set(desc.digest, { data, labels: { ...labels } });
        store.partial.delete(desc.digest);
      },
      async discard() {
        store.partial.delete(desc.digest);
        store.discarded.push(desc.digest);
      },
      close() {},
    };
    return writer;
  }

  async read(desc: Descriptor): Promise<Buffer | undefined> {
    return this.blobs.get(desc.digest)?.data;
  }
}

/** A registry that serves `served` for any blob, from the offset asked for (Range). */
function registry(served: Buffer) {
  const asked: number[] = [];
  const repo = {
    host: 'registry.test',
    ref: { path: 'library/x' },
    async blob(_desc: Descriptor, offset: number) {
      asked.push(offset);
      return {
        offset,
        chunks: (async function* () {
          yield served.subarray(offset);
        })(),
        cancel() {},
      };
    },
  };
  return { repo: repo as unknown as Repository, asked };
}

function blob(size: number): { data: Buffer; desc: Descriptor } {
  const data = randomBytes(size);
  return { data, desc: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(data), size, annotations: {} } };
}

test('a layer cut short is resumed where the store holds it, and committed', async () => {
  const { data, desc } = blob(1000);
  const store = new MemoryStore();
  store.partial.set(desc.digest, data.subarray(0, 300));
  const { repo, asked } = registry(data);
  let fetched = 0;
  let found = 0;
  const resumed: number[] = [];
  const onBytes = (n: number, network: boolean): void => void (network ? (fetched += n) : (found += n));
  await fetchBlob({ blobs: store, onBytes, onResume: (_d, offset) => resumed.push(offset) }, repo, desc);
  assert.deepEqual(asked, [300]);
  assert.deepEqual(resumed, [300]);
  assert.deepEqual({ fetched, found }, { fetched: 700, found: 300 });
  assert.ok(store.blobs.get(desc.digest)?.data.equals(data));
  assert.equal(store.partial.size, 0);
});

test('a layer that hashes wrong is dropped, never committed', async () => {
  const { desc } = blob(1000);
  const store = new MemoryStore();
  const { repo } = registry(randomBytes(1000));
  await assert.rejects(fetchBlob({ blobs: store }, repo, desc), (err) => {
    assert.ok(err instanceof DigestMismatchError);
    assert.match(err.message, /from registry\.test\/library\/x: content hashes to sha256:[0-9a-f]{64}; refused/);
    return true;
  });
  assert.equal(store.blobs.size, 0);
  assert.deepEqual(store.discarded, [desc.digest]);
  assert.equal(store.partial.size, 0, 'nothing is left to resume');
});

test('a layer the store has is not fetched; it gets the labels', async () => {
  const { data, desc } = blob(100);
  const store = new MemoryStore();
  store.blobs.set(desc.digest, { data, labels: {} });
  const { repo, asked } = registry(data);
  let found = 0;
  await fetchBlob({ blobs: store, onBytes: (n) => (found += n) }, repo, desc, { ref: 'x' });
  assert.deepEqual(asked, []);
  assert.equal(found, 100);
  assert.deepEqual(store.blobs.get(desc.digest)?.labels, { ref: 'x' });
});

test('a small blob is checked before it is stored', async () => {
  const { data, desc } = blob(64);
  const store = new MemoryStore();
  await assert.rejects(putBlob({ blobs: store }, desc, randomBytes(64)), DigestMismatchError);
  await assert.rejects(putBlob({ blobs: store }, { ...desc, size: 63 }, data), DigestMismatchError);
  assert.equal(store.blobs.size, 0);
  await putBlob({ blobs: store }, desc, data, { kind: 'config' });
  assert.deepEqual(store.blobs.get(desc.digest), { data, labels: { kind: 'config' } });
  assert.deepEqual(await store.read(desc), data);
});
