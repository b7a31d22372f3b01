// Native hashers (addon, no pool) against independent oracles on the same files:
// md5sum, sha256sum, b2sum, xxhsum -H0/-H1/-H3/-H2 and the xxhash-addon package.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createNativeHasher, nativeHashFile, nativeHashContent } from '../src/native/hash-api.js';
import { addonDigest, toolDigest, type Algo } from './helpers/hash-oracles.js';
import { tempDir } from './helpers/fixtures.js';
import { seededBytes } from './helpers/seeded-bytes.js';

const ALGOS: Algo[] = ['md5', 'xxh3', 'xxh128', 'sha256'];
const KiB = 1024;
const MiB = 1024 * KiB;

const seeded = (len: number, seed: number): Buffer => seededBytes(len, seed);

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('hash-native');
});
afterAll(() => tmp.cleanup());

// Sizes around every buffer boundary the native side uses (64 KiB minimum buffer, the
// 1 MiB default, XXH3's 1 KiB stripes/blocks, MD5's 64-byte blocks).
const SIZES = [0, 1, 63, 64, 65, 1023, 1024, 1025, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 7];

describe('hashFile matches md5sum / sha256sum / xxhsum / xxhash-addon', () => {
  for (const size of SIZES) {
    it(`${size} bytes`, async () => {
      const path = join(tmp.dir, `f-${size}`);
      writeFileSync(path, seeded(size, size + 1));
      // Small buffers (64 KiB x 2) so multi-buffer paths run even for small files.
      const small = await nativeHashFile(path, ALGOS, { bufferSize: 64 * KiB, bufferCount: 2 }).promise;
      const dflt = await nativeHashFile(path, ALGOS).promise;
      expect(small.bytes).toBe(size);
      for (const a of ALGOS) {
        const want = toolDigest(a, path);
        expect(small.digests[a], a).toBe(want);
        expect(dflt.digests[a], a).toBe(want);
      }
      expect(small.digests.xxh3).toBe(addonDigest('xxh3', path));
      expect(small.digests.xxh128).toBe(addonDigest('xxh128', path));
    });
  }
});

describe('xxh32, xxh64 and blake2b match xxhsum -H0, xxhsum -H1, b2sum and node:crypto', () => {
  const NEW: Algo[] = ['xxh32', 'xxh64', 'blake2b'];
  // XXH32 works in 16-byte stripes, XXH64 in 32, BLAKE2b in 128-byte blocks; plus buffer edges.
  for (const size of [0, 1, 15, 16, 17, 31, 32, 33, 127, 128, 129, 64 * KiB + 1, MiB + 1]) {
    it(`${size} bytes`, async () => {
      const path = join(tmp.dir, `n-${size}`);
      const data = seeded(size, size + 3);
      writeFileSync(path, data);
      const r = await nativeHashFile(path, [...NEW, 'md5'], { bufferSize: 64 * KiB, bufferCount: 2 }).promise;
      for (const a of NEW) expect(r.digests[a], a).toBe(toolDigest(a, path));
      expect(r.digests.blake2b).toBe(createHash('blake2b512').update(data).digest('hex'));
      expect(r.digests.md5).toBe(toolDigest('md5', path));
    });
  }

  it('streamed in odd pieces with zero runs, and reset after digest', () => {
    const head = seeded(100_003, 5);
    const tail = seeded(77, 6);
    const data = Buffer.concat([head, Buffer.alloc(3 * MiB + 1), tail]);
    const h = createNativeHasher(NEW);
    for (let off = 0; off < head.length; off += 999) h.update(head.subarray(off, off + 999));
    h.updateZeros(3 * MiB + 1);
    h.update(tail);
    const got = h.digest();
    const path = join(tmp.dir, 'stream-new');
    writeFileSync(path, data);
    for (const a of NEW) expect(got[a], a).toBe(toolDigest(a, path));
    expect(h.digest()).toEqual({ xxh32: '02cc5d05', xxh64: 'ef46db3751d8e999', blake2b: createHash('blake2b512').digest('hex') });
  });
});

describe('several files as one stream (a multi-file image\'s dedup key)', () => {
  it('equals the hash of the files concatenated (cat a b c | md5sum), holes included', async () => {
    const a = join(tmp.dir, 'cat-a');
    const b = join(tmp.dir, 'cat-b');
    const c = join(tmp.dir, 'cat-c');
    writeFileSync(a, seeded(1000, 1));
    writeFileSync(b, Buffer.alloc(0));
    const fd = openSync(c, 'w');
    ftruncateSync(fd, 3 * MiB + 5); // mostly a hole
    writeSync(fd, seeded(4096, 2), 0, 4096, MiB);
    closeSync(fd);
    const both = join(tmp.dir, 'cat-all');
    execFileSync('sh', ['-c', `cat '${a}' '${b}' '${c}' > '${both}'`]);
    const r = await nativeHashFile([a, b, c], ALGOS).promise;
    expect(r.bytes).toBe(1000 + 3 * MiB + 5);
    for (const algo of ALGOS) expect(r.digests[algo], algo).toBe(toolDigest(algo, both));
  });

  it('refuses a directory among the files, before reading any', async () => {
    const a = join(tmp.dir, 'cat-a');
    await expect(nativeHashFile([a, tmp.dir], ['xxh3']).promise).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
  });
});

describe('streaming hasher object (update/digest)', () => {
  it('matches node:crypto and xxhash-addon for data fed in odd pieces, and resets after digest', () => {
    const data = seeded(2 * MiB + 333, 7);
    const h = createNativeHasher(ALGOS);
    for (let off = 0; off < data.length; ) {
      const n = Math.min(data.length - off, 1 + ((off * 7919) % 100_000));
      h.update(data.subarray(off, off + n));
      off += n;
    }
    const got = h.digest();
    const path = join(tmp.dir, 'stream');
    writeFileSync(path, data);
    expect(got.md5).toBe(createHash('md5').update(data).digest('hex'));
    expect(got.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(got.xxh3).toBe(addonDigest('xxh3', path));
    expect(got.xxh128).toBe(addonDigest('xxh128', path));
    // After digest() the hasher starts over: empty input.
    expect(h.digest().md5).toBe('d41d8cd98f00b204e9800998ecf8427e');
  });

  it('rejects unknown algorithms and non-buffers with E_INVALID_ARGUMENT', () => {
    expect(() => createNativeHasher(['crc32' as Algo])).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
    const h = createNativeHasher(['md5']);
    expect(() => h.update('text' as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
  });
});

describe('sparse and special files', () => {
  function sparseFile(name: string, size: number): string {
    const path = join(tmp.dir, name);
    const fd = openSync(path, 'w');
    ftruncateSync(fd, size);
    writeSync(fd, seeded(MiB, 1), 0, MiB, 0);
    writeSync(fd, seeded(MiB, 2), 0, MiB, Math.floor(size / 2) + 12345);
    writeSync(fd, seeded(100, 3), 0, 100, size - 100); // data right up to EOF
    closeSync(fd);
    return path;
  }

  it('a 4.25 GiB sparse file: holes are fed as zeros without being read; xxh3 matches xxhsum -H3', async () => {
    const size = 4.25 * 1024 * MiB; // past 4 GiB: no 32-bit size or offset survives
    const path = sparseFile('sparse-big', size);
    const r = await nativeHashFile(path, ['xxh3']).promise;
    expect(r.bytes).toBe(size);
    expect(r.bytesRead).toBeLessThan(64 * MiB); // only the data extents were read
    expect(r.digests.xxh3).toBe(toolDigest('xxh3', path));
  }, 120_000);

  it('a 600 MiB sparse file: md5/sha256 match md5sum/sha256sum', async () => {
    const path = sparseFile('sparse-small', 600 * MiB);
    const r = await nativeHashFile(path, ['md5', 'sha256']).promise;
    expect(r.bytesRead).toBeLessThan(64 * MiB);
    expect(r.digests.md5).toBe(toolDigest('md5', path));
    expect(r.digests.sha256).toBe(toolDigest('sha256', path));
  }, 120_000);

  it('a pipe is streamed (no size known up front)', async () => {
    const fifo = join(tmp.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const data = seeded(5 * MiB + 1, 9);
    const file = join(tmp.dir, 'fifo-data');
    writeFileSync(file, data);
    const writer = spawn('sh', ['-c', `cat '${file}' > '${fifo}'`]);
    const writerDone = new Promise((res) => writer.on('close', res));
    const r = await nativeHashFile(fifo, ['md5', 'xxh128']).promise;
    await writerDone;
    expect(r.bytes).toBe(data.length);
    expect(r.digests.md5).toBe(toolDigest('md5', file));
    expect(r.digests.xxh128).toBe(toolDigest('xxh128', file));
  });

  it('errors carry codes: missing file, directory, unknown algorithm', async () => {
    await expect(nativeHashFile(join(tmp.dir, 'nope'), ['md5']).promise).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await expect(nativeHashFile(tmp.dir, ['md5']).promise).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    expect(() => nativeHashFile(join(tmp.dir, 'f-1'), ['crc32' as Algo])).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
  });

  it('cancel() stops a long hash with E_CANCELLED', async () => {
    const path = join(tmp.dir, 'long');
    execFileSync('truncate', ['-s', '8G', path]);
    const h = nativeHashFile(path, ['sha256']);
    setTimeout(() => h.cancel(), 200);
    await expect(h.promise).rejects.toMatchObject({ code: 'E_CANCELLED' });
  });

  it('progress reports reach the total', async () => {
    const path = join(tmp.dir, 'prog');
    execFileSync('truncate', ['-s', '1G', path]);
    const seen: number[] = [];
    const r = await nativeHashFile(path, ['md5'], {}, (p) => seen.push(p.bytesDone)).promise;
    expect(seen.length).toBeGreaterThan(1);
    expect(seen[seen.length - 1]).toBe(r.bytes);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  }, 60_000);

  it('content hash of a raw file equals its file hash', async () => {
    const path = join(tmp.dir, 'f-3145735');
    const c = await nativeHashContent(path, ALGOS).promise;
    for (const a of ALGOS) expect(c.digests[a]).toBe(toolDigest(a, path));
  });
});
