// The host-side initramfs lister (src/guest/initramfs-listing.ts) against images built the way
// dracut and mkinitramfs build them: the host's GNU cpio writes the newc archives, the host's
// gzip/zstd/xz compress the main one, an uncompressed early-microcode archive comes first, and
// lsinitramfs (initramfs-tools-core) is the second oracle where installed.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listInitramfs } from '../src/guest/initramfs-listing.js';
import { missingVirtioModules } from '../src/guest/initramfs.js';
import { findExecutable } from '../src/util/find-executable.js';

const dir = mkdtempSync(join(tmpdir(), 'h2k-initramfs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A newc archive of `tree` made by the host's cpio (paths as find prints them, like dracut's). */
function cpio(tree: string, files: Record<string, string>, links: Record<string, string> = {}): Buffer {
  for (const [f, content] of Object.entries(files)) {
    mkdirSync(join(tree, f, '..'), { recursive: true });
    writeFileSync(join(tree, f), content);
  }
  for (const [l, target] of Object.entries(links)) symlinkSync(target, join(tree, l));
  const list = execFileSync('find', ['.'], { cwd: tree, encoding: 'utf8' });
  return execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: tree, input: list, maxBuffer: 1 << 26 });
}

const kmod = 'usr/lib/modules/6.1.0-50-amd64/kernel/drivers';
const main = {
  'init': '#!/bin/sh\n',
  'etc/crypttab': 'root UUID=x none luks\n',
  [`${kmod}/virtio/virtio_pci.ko`]: 'x'.repeat(5000), // odd sizes exercise the 4-byte padding
  [`${kmod}/block/virtio_blk.ko.xz`]: 'y'.repeat(1234),
  [`${kmod}/net/virtio_net.ko.zst`]: 'z',
};
const early = { 'kernel/x86/microcode/GenuineIntel.bin': 'u'.repeat(777) };

const expected = (files: Record<string, string>, extra: string[]) =>
  [...new Set([...Object.keys(files).flatMap((f) => f.split('/').map((_, i, a) => a.slice(0, i + 1).join('/'))), ...extra])].sort();

describe('listInitramfs (host cpio as the archive writer)', () => {
  it('has its oracles (scripts/setup-system.sh installs them)', () => {
    for (const tool of ['cpio', 'gzip', 'zstd', 'xz', 'lsinitramfs']) expect(findExecutable(tool), tool).toBeTruthy();
  });

  const mainCpio = cpio(join(dir, 'main'), main, { 'lib': 'usr/lib' });
  const earlyCpio = cpio(join(dir, 'early'), early);
  const wantMain = expected(main, ['lib']);
  const wantAll = [...new Set([...wantMain, ...expected(early, [])])].sort();

  for (const [name, program] of [['gzip', 'gzip'], ['zstd', 'zstd'], ['xz', 'xz']] as const) {
    it(`early cpio + ${name}-compressed main archive: every path, as lsinitramfs lists it`, async () => {
      const compressed = execFileSync(program, name === 'xz' ? ['-c', '--check=crc32'] : ['-c'], { input: mainCpio, maxBuffer: 1 << 26 });
      const pad = Buffer.alloc((512 - (earlyCpio.length % 512)) % 512); // dracut pads the early archive
      const image = join(dir, `image-${name}.img`);
      writeFileSync(image, Buffer.concat([earlyCpio, pad, compressed]));
      const names = await listInitramfs(readFileSync(image));
      expect([...names].sort()).toEqual(wantAll);
      const theirs = execFileSync('lsinitramfs', [image], { encoding: 'utf8' }).split('\n').filter((l) => l && l !== '.');
      expect([...names].sort()).toEqual([...theirs].sort());
      expect(missingVirtioModules(names.join('\n'), '')).toEqual(['virtio_scsi']);
    });
  }

  it('an uncompressed image and a gzip image with trailing zero padding', async () => {
    expect((await listInitramfs(mainCpio)).sort()).toEqual(wantMain);
    const gz = execFileSync('gzip', ['-c'], { input: mainCpio, maxBuffer: 1 << 26 });
    expect((await listInitramfs(Buffer.concat([gz, Buffer.alloc(300)]))).sort()).toEqual(wantMain);
  });

  it('stops at a bound on what an image unpacks to (the guest may be hostile: a compression bomb)', async () => {
    const bomb = cpio(join(dir, 'bomb'), { 'zeros.bin': '\0'.repeat(4 << 20) });
    for (const program of ['gzip', 'zstd']) {
      const packed = execFileSync(program, ['-c'], { input: bomb, maxBuffer: 1 << 26 });
      await expect(listInitramfs(packed, 0, 1 << 20), program).rejects.toThrow(/unpacks to more than 1048576 bytes/);
      expect((await listInitramfs(packed, 0, 8 << 20)).sort(), program).toEqual(['zeros.bin']);
    }
  });

  it('refuses what it cannot read instead of returning a partial listing', async () => {
    await expect(listInitramfs(Buffer.from('not an initramfs at all'))).rejects.toThrow(/unknown content at byte 0/);
    await expect(listInitramfs(mainCpio.subarray(0, 3000))).rejects.toThrow(/truncated|past the end/);
  });
});
