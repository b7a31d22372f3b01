// dracut's compression moved to the host (src/guest/linux/dracut-host-gzip.ts), against images
// laid out as dracut lays them out: the host's GNU cpio writes the archives, an early cpio marked
// with dracut's `early_cpio` entry first; lsinitramfs and the host's gzip are the oracles.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { configuresOtherCompressor, gzipDracutImage } from '../src/guest/linux/dracut-host-gzip.js';
import { initramfsCompression, listInitramfs } from '../src/guest/initramfs-listing.js';

const dir = mkdtempSync(join(tmpdir(), 'h2k-dracut-gzip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A newc archive of `files` made by the host's cpio, padded to 512 bytes as GNU cpio writes. */
function cpio(name: string, files: Record<string, string>): Buffer {
  const tree = join(dir, name);
  for (const [f, content] of Object.entries(files)) {
    mkdirSync(join(tree, f, '..'), { recursive: true });
    writeFileSync(join(tree, f), content);
  }
  const list = execFileSync('find', ['.'], { cwd: tree, encoding: 'utf8' });
  return execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: tree, input: list, maxBuffer: 1 << 26 });
}

const main = cpio('main', { init: '#!/bin/sh\n', 'usr/lib/modules/6.1.0-50-amd64/kernel/drivers/block/virtio_blk.ko.xz': 'v'.repeat(70_001) });
const early = cpio('early', { early_cpio: '1\n', 'kernel/x86/microcode/GenuineIntel.bin': 'u'.repeat(777) });

function lsinitramfs(image: Buffer, name: string): string[] {
  writeFileSync(join(dir, name), image);
  return execFileSync('lsinitramfs', [join(dir, name)], { encoding: 'utf8' }).split('\n').filter((l) => l && l !== '.').sort();
}

describe('gzipDracutImage', () => {
  it('an image without an early cpio is gzipped whole: gunzip gives the bytes back, lsinitramfs lists them', async () => {
    const image = await gzipDracutImage(main);
    expect(initramfsCompression(image)).toBe('gzip');
    expect(gunzipSync(image).equals(main)).toBe(true);
    expect(execFileSync('gzip', ['-dc'], { input: image, maxBuffer: 1 << 26 }).equals(main)).toBe(true);
    expect(lsinitramfs(image, 'whole.img')).toEqual((await listInitramfs(main)).sort());
  });

  it("dracut's early cpio stays uncompressed in front, the main archive after it is gzipped", async () => {
    const plain = Buffer.concat([early, main]); // what `dracut --no-compress` writes
    const image = await gzipDracutImage(plain);
    expect(image.subarray(0, early.length).equals(early)).toBe(true);
    expect(image[early.length]).toBe(0x1f);
    expect(gunzipSync(image.subarray(early.length)).equals(main)).toBe(true);
    expect(initramfsCompression(image)).toBe('gzip');
    const names = (await listInitramfs(image)).sort();
    expect(names).toContain('kernel/x86/microcode/GenuineIntel.bin');
    expect(names).toContain('usr/lib/modules/6.1.0-50-amd64/kernel/drivers/block/virtio_blk.ko.xz');
    expect(lsinitramfs(image, 'early.img')).toEqual(names);
  });

  it('a first archive that is not an early cpio is compressed with the rest', async () => {
    const other = cpio('other', { 'etc/hostname': 'x\n' });
    const image = await gzipDracutImage(Buffer.concat([other, main]));
    expect(image[0]).toBe(0x1f);
    expect(gunzipSync(image).equals(Buffer.concat([other, main]))).toBe(true);
  });

  it('refuses what is not a cpio image instead of compressing it', async () => {
    await expect(gzipDracutImage(Buffer.from('not an initramfs at all, just text that is long enough to read a header from it........................................'))).rejects.toThrow(/bad cpio header at byte 0/);
  });
});

describe('configuresOtherCompressor', () => {
  it('gzip and pigz (bare, quoted, with a path or options) keep the host path; others do not', () => {
    expect(configuresOtherCompressor([])).toBe(false);
    expect(configuresOtherCompressor(['hostonly="yes"\n'])).toBe(false);
    expect(configuresOtherCompressor(['compress="gzip"\n'])).toBe(false);
    expect(configuresOtherCompressor(["compress='pigz -9'\n"])).toBe(false);
    expect(configuresOtherCompressor(['compress=/usr/bin/gzip\n'])).toBe(false);
    expect(configuresOtherCompressor(['# compress="xz"\n'])).toBe(false);
    expect(configuresOtherCompressor(['compress="zstd"\n'])).toBe(true);
    expect(configuresOtherCompressor(['hostonly=yes\n', ' compress=xz\n'])).toBe(true);
    expect(configuresOtherCompressor(['compress="cat"\n'])).toBe(true);
  });
});
