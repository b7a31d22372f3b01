// dracut with its compression moved to the host. Under TCG the appliance's `gzip -9` of a dracut
// image costs about 40 s; the same bytes take a few seconds here. dracut builds the image
// uncompressed (--no-compress) in the guest, the host gzips its main archive (an uncompressed
// early cpio, which the kernel must find as is, stays in front), and the result replaces the
// image by rename. Taken only when the guest's own dracut would gzip (its current image is gzip,
// no dracut.conf names another compressor); anything else keeps dracut's own compression.
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { ChangeSet } from '../change-set.js';
import type { GuestfishSession } from '../guestfish-session.js';
import { MAX_INITRAMFS_PLAIN_BYTES, readCpio } from '../initramfs-listing.js';

const gzipAsync = promisify(gzip);
const DRACUT_CONFIGS = ['/etc/dracut.conf', '/etc/dracut.conf.d/*.conf', '/usr/lib/dracut/dracut.conf.d/*.conf'];

/** True when a dracut.conf `compress=` line picks something other than gzip (or pigz, its parallel twin). */
export function configuresOtherCompressor(confTexts: string[]): boolean {
  return confTexts.some((text) =>
    [...text.matchAll(/^\s*compress\s*=\s*["']?\s*([^"'\s]*)/gm)].some((m) => !/^(gzip|pigz)$/.test(m[1]!.replace(/^.*\//, ''))));
}

/**
 * An uncompressed dracut image as dracut would have gzipped it: when the first archive is dracut's
 * early cpio (it holds an `early_cpio` entry), it and the padding after it stay uncompressed.
 */
export async function gzipDracutImage(plain: Buffer): Promise<Buffer> {
  let mainStart = 0;
  const names: string[] = [];
  const firstEnd = readCpio(plain, 0, names);
  if (names.includes('early_cpio')) {
    mainStart = firstEnd;
    while (mainStart < plain.length && plain[mainStart] === 0) mainStart++;
  }
  const main = await gzipAsync(plain.subarray(mainStart), { level: 9 });
  return Buffer.concat([plain.subarray(0, mainStart), main]);
}

/** Whether the guest's dracut would gzip: its current image is gzip and no configuration says otherwise. */
export async function dracutWouldGzip(s: GuestfishSession, currentCompression: string | null): Promise<boolean> {
  if (currentCompression !== 'gzip') return false;
  const texts: string[] = [];
  for (const pattern of DRACUT_CONFIGS)
    for (const f of pattern.includes('*') ? await s.glob(pattern) : [pattern]) if (await s.isFile(f)) texts.push(await s.readText(f));
  return !configuresOtherCompressor(texts);
}

/** The scratch file dracut writes its uncompressed image to: the root file system, not a small /boot. */
async function scratchPath(s: GuestfishSession, version: string): Promise<string> {
  return `${(await s.isDir('/var/tmp')) ? '/var/tmp' : '/tmp'}/h2k-initramfs-${version}.cpio`;
}

/**
 * Builds `target` for kernel `version` with dracut in the guest and gzip on the host. Any failure
 * on the way (dracut writing the uncompressed image to a full /var/tmp, the download, the upload,
 * a size past the bound) falls back to `dracutCommand`, dracut compressing in the guest, with a
 * warning: whether the fix failed is then that command's answer.
 */
export async function dracutWithHostGzip(s: GuestfishSession, cs: ChangeSet, version: string, target: string, dracutCommand: string): Promise<void> {
  const plainPath = await scratchPath(s, version);
  const next = `${target}.h2k-new`;
  try {
    await s.sh(`dracut -f --no-compress ${plainPath} ${version}`);
    const size = Number((await s.call('filesize', plainPath)).trim());
    if (!(size <= MAX_INITRAMFS_PLAIN_BYTES)) throw new Error(`${size} bytes uncompressed, more than the host takes`);
    const mode = /^st_mode: (\d+)$/m.exec(await s.call('statns', plainPath));
    const image = await gzipDracutImage(await s.readFile(plainPath));
    await s.writeFile(next, image);
    if (mode) await s.call('chmod', `0${(Number(mode[1]) & 0o7777).toString(8)}`, next);
    await s.call('mv', next, target); // a rename within /boot: the guest never has half an image
  } catch (err) {
    cs.warnings.push(`initramfs: building ${target} with the compression on the host failed (${(err as Error).message}); dracut compresses it in the guest instead`);
    await s.sh(dracutCommand);
  } finally {
    await s.call('rm-f', plainPath).catch(() => undefined);
    await s.call('rm-f', next).catch(() => undefined);
  }
}
