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

/** A guest as far as dracutWithHostGzip uses it: files in a map, dracut writing `built` where told. */
function fakeGuest(built: Buffer, failing: RegExp | null = null) {
  const files = new Map<string, Buffer>([['/boot/initramfs-6.1.img', Buffer.from('old')]]);
  const ran: string[] = [];
  const s = {
    isDir: async (p: string) => p === '/var/tmp',
    sh: async (command: string) => {
      ran.push(command);
      if (failing?.test(command)) throw new Error('dracut: cpio: write error: No space left on device');
      const m = /^dracut -f (?:--no-compress )?(\S+) /.exec(command);
      files.set(m![1]!, command.includes('--no-compress') ? built : Buffer.from('compressed in the guest'));
      return '';
    },
    call: async (cmd: string, ...args: string[]) => {
      ran.push([cmd, ...args].join(' '));
      if (cmd === 'filesize') return String(files.get(args[0]!)!.length);
      if (cmd === 'statns') return 'st_dev: 2049\nst_ino: 12\nst_mode: 33152\nst_nlink: 1\n';
      if (cmd === 'mv') { files.set(args[1]!, files.get(args[0]!)!); files.delete(args[0]!); }
      if (cmd === 'rm-f') files.delete(args[0]!);
      return '';
    },
    readFile: async (p: string) => files.get(p)!,
    writeFile: async (p: string, b: Uint8Array) => void files.set(p, Buffer.from(b)),
  };
  return { s, files, ran };
}

describe('dracutWithHostGzip (a guest faked as a file map)', () => {
  const command = 'dracut -f /boot/initramfs-6.1.img 6.1';
  it('dracut writes the uncompressed image to /var/tmp, the host gzips it, the result is renamed over the image with dracut\'s mode', async () => {
    const { dracutWithHostGzip } = await import('../src/guest/linux/dracut-host-gzip.js');
    const { ChangeSet } = await import('../src/guest/change-set.js');
    const g = fakeGuest(Buffer.concat([early, main]));
    const cs = new ChangeSet(g.s as never, false);
    await dracutWithHostGzip(g.s as never, cs, '6.1', '/boot/initramfs-6.1.img', command);
    expect(g.ran[0]).toBe('dracut -f --no-compress /var/tmp/h2k-initramfs-6.1.cpio 6.1');
    expect(g.ran).toContain('chmod 0600 /boot/initramfs-6.1.img.h2k-new'); // 33152 = 0100600
    expect(g.ran).toContain('mv /boot/initramfs-6.1.img.h2k-new /boot/initramfs-6.1.img');
    expect(g.ran).not.toContain(command);
    const image = g.files.get('/boot/initramfs-6.1.img')!;
    expect(image.subarray(0, early.length).equals(early)).toBe(true);
    expect(gunzipSync(image.subarray(early.length)).equals(main)).toBe(true);
    expect([...g.files.keys()]).toEqual(['/boot/initramfs-6.1.img']); // no scratch file left
    expect(cs.warnings).toEqual([]);
  });

  it('no room for the uncompressed image: dracut compresses in the guest as it would have, with a warning', async () => {
    const { dracutWithHostGzip } = await import('../src/guest/linux/dracut-host-gzip.js');
    const { ChangeSet } = await import('../src/guest/change-set.js');
    const g = fakeGuest(main, /--no-compress/);
    const cs = new ChangeSet(g.s as never, false);
    await dracutWithHostGzip(g.s as never, cs, '6.1', '/boot/initramfs-6.1.img', command);
    expect(g.ran).toContain(command);
    expect(g.files.get('/boot/initramfs-6.1.img')!.toString()).toBe('compressed in the guest');
    expect(cs.warnings.join('\n')).toMatch(/building \/boot\/initramfs-6\.1\.img with the compression on the host failed \(dracut: cpio: write error: No space left on device\); dracut compresses it in the guest instead/);
    expect([...g.files.keys()]).toEqual(['/boot/initramfs-6.1.img']);
  });

  it('a failing dracut fails in the guest too: the error reaches the caller (ChangeSet.regenerate records it)', async () => {
    const { dracutWithHostGzip } = await import('../src/guest/linux/dracut-host-gzip.js');
    const { ChangeSet } = await import('../src/guest/change-set.js');
    const g = fakeGuest(main, /^dracut/);
    const cs = new ChangeSet(g.s as never, false);
    await expect(dracutWithHostGzip(g.s as never, cs, '6.1', '/boot/initramfs-6.1.img', command)).rejects.toThrow(/No space left/);
  });
});
