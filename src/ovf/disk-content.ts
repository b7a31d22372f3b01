// A loose OVF's disk file must be a disk by content, as inside an OVA (native ova_open.cpp
// rawByName): a file whose content matches no disk format is read as a raw disk only when named
// .img/.raw. Otherwise a gzip file (ovf:compression="gzip" — loose files are not inflated), a
// damaged export or any other file would silently become a raw disk.
import { basename } from 'node:path';
import { loadAddon } from '../native/addon.js';
import { H2kError } from '../util/errors.js';
import type { OvfDisk } from './ovf-types.js';

/** The content format, or why the file is not the format its name says (E_FORMAT_MISMATCH). */
function contentOf(source: string, root: string | undefined): { format?: string; mismatch?: string } {
  try {
    return { format: loadAddon().detectFormat(source, root ? { sourceRoot: root } : {}) };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code !== 'E_FORMAT_MISMATCH') throw err;
    return { mismatch: e.message };
  }
}

export function assertLooseDiskContent(source: string, disk: OvfDisk, descriptor: string, root?: string): void {
  if (/\.(img|raw)$/i.test(disk.file.href)) return;
  const content = contentOf(source, root);
  if (content.format && content.format !== 'raw') return;
  const gzip = disk.file.compression === 'gzip';
  throw new H2kError(
    `${basename(descriptor)}: <File ovf:href="${disk.file.href}"> (disk ${disk.diskId}) is not a disk image: ` +
      (content.mismatch ?? 'its content matches no disk format h2k reads') +
      (gzip ? ' (it is declared gzip-compressed; h2k inflates gzip files only inside an OVA)' : '') +
      ', and only a file named .img or .raw is read as a raw disk',
    {
      code: 'E_OVF_NOT_A_DISK',
      file: source,
      hint: gzip
        ? 'gunzip the file beside the .ovf and drop ovf:compression, or pack the appliance as an OVA'
        : 'the file is damaged or is not a disk; re-export the VM (VMDK, VHD, VHDX, VDI, qcow2, or raw named .img/.raw)',
    },
  );
}
