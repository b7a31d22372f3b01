// Which files make up one image. A VMDK descriptor names its extents (a loose .ovf its disks,
// ovf-drop.ts); the descriptor is the job and the extents are carried along, never jobs of their
// own. The native VMDK reader says what a .vmdk is (vmdkRole: its sparse header and descriptor
// parsers, at most 4096 extents). Whether a headerless .vmdk is flat extent data or junk is the
// watcher's call (by name, and whether a descriptor claims it).
import { open, type FileHandle } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { formatNamedBy, vmdkRole } from '../native/formats.js';
import { ovfDiskFiles } from './ovf-drop.js';

export type FileRole =
  /** a self-contained image: raw, monolithic/stream-optimized VMDK, qcow2, ... */
  | { kind: 'single' }
  /** a VMDK text descriptor or a loose .ovf; extents (the files it names) are bare file names in
   * the same directory */
  | { kind: 'descriptor'; extents: string[]; unsafeExtents: string[] }
  /** a VMDK extent with a sparse header (KDMV without descriptor, COWD): only part of an image */
  | { kind: 'extent' }
  /** a .vmdk with neither a descriptor nor a sparse magic: flat extent data, or not a VMDK at all
   * (the watcher decides by name and by whether a descriptor claims it) */
  | { kind: 'headerless'; size: number };

/** Names VMware and qemu-img give extents: they may wait for their descriptor. */
const EXTENT_NAME = /-(?:flat|delta|sesparse|[sf]\d{3,})\.vmdk$/i;

export function looksLikeExtentName(path: string): boolean {
  return EXTENT_NAME.test(basename(path));
}

export function fileTypeOf(path: string): string {
  return extname(path).slice(1).toLowerCase() || 'unknown';
}

/** The format a file's name promises ('' = detect by content, e.g. .img/.raw). A .vmdk full of
 * garbage must fail as a corrupt VMDK, not be "converted" as raw bytes. */
export const sourceFormatFor = formatNamedBy;

/** The role of a file naming others (VMDK extents, an .ovf's disks): names with a directory part
 *  are unsafe (they refuse the descriptor); a name twice, or its own name, counts once. */
function descriptorRole(path: string, names: string[]): FileRole {
  const extents: string[] = [];
  const unsafeExtents: string[] = [];
  for (const name of names) {
    if (name === '' || name === '.' || name === '..' || name !== basename(name) || name.includes('\0')) unsafeExtents.push(name);
    else if (name !== basename(path) && !extents.includes(name)) extents.push(name);
  }
  return { kind: 'descriptor', extents, unsafeExtents };
}

/** How classifyFile opens the file; the daemon passes drop-guard's openChecked (no links, no FIFOs). */
export type OpenForProbe = (path: string) => Promise<FileHandle>;

export async function classifyFile(path: string, openFile: OpenForProbe = (p) => open(p, 'r')): Promise<FileRole> {
  if (fileTypeOf(path) === 'ovf') return descriptorRole(path, await ovfDiskFiles(path, openFile));
  if (fileTypeOf(path) !== 'vmdk') return { kind: 'single' };
  const fh = await openFile(path);
  try {
    const role = vmdkRole(fh.fd, path);
    switch (role.kind) {
      case 'descriptor':
        return descriptorRole(path, role.extents);
      case 'headerless':
        return { kind: 'headerless', size: (await fh.stat()).size };
      default:
        return { kind: role.kind };
    }
  } finally {
    await fh.close();
  }
}
