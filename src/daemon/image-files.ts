// Which files make up one image. A VMDK descriptor names its extents (a loose .ovf its disks,
// ovf-drop.ts); the descriptor is the job and the extents are carried along, never jobs of their
// own. Only the first 64 KiB of a VMDK is read, and at most MAX_EXTENTS extent lines are accepted.
// Whether a headerless .vmdk is flat extent data or junk is the watcher's call (by name, and
// whether a descriptor claims it).
import { open, type FileHandle } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { formatNamedBy } from '../native/formats.js';
import { classifyOvf } from './ovf-drop.js';

const PROBE_BYTES = 64 * 1024;
const MAX_EXTENTS = 4096;
const EXTENT_LINE = /^\s*(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Z]+)(?:\s+"([^"\r\n]*)")?/;

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

/** Extent file names from descriptor text; names with a directory part are reported as unsafe. */
export function parseDescriptorExtents(text: string): { extents: string[]; unsafeExtents: string[] } {
  const extents: string[] = [];
  const unsafeExtents: string[] = [];
  for (const line of text.split('\n')) {
    const m = EXTENT_LINE.exec(line);
    if (!m || m[3] === 'ZERO' || m[4] === undefined) continue;
    const name = m[4];
    if (extents.length + unsafeExtents.length >= MAX_EXTENTS) break;
    if (name === '' || name !== basename(name) || name === '.' || name === '..') unsafeExtents.push(name);
    else if (!extents.includes(name)) extents.push(name);
  }
  return { extents, unsafeExtents };
}

/** Descriptor text, possibly NUL-padded to a sector (qemu-img does that). */
function looksLikeDescriptor(buf: Buffer): boolean {
  const end = buf.indexOf(0);
  const text = (end < 0 ? buf : buf.subarray(0, end)).toString('latin1');
  return /^#\s*Disk DescriptorFile/m.test(text) || /^\s*createType\s*=/m.test(text);
}

/** How classifyFile opens the file; the daemon passes drop-guard's openChecked (no links, no FIFOs). */
export type OpenForProbe = (path: string) => Promise<FileHandle>;

export async function classifyFile(path: string, openFile: OpenForProbe = (p) => open(p, 'r')): Promise<FileRole> {
  if (fileTypeOf(path) === 'ovf') return classifyOvf(path, openFile);
  if (fileTypeOf(path) !== 'vmdk') return { kind: 'single' };
  const fh = await openFile(path);
  let fileSize: number;
  let buf: Buffer;
  let region = Buffer.alloc(0);
  try {
    fileSize = (await fh.stat()).size;
    const probe = Buffer.alloc(PROBE_BYTES);
    const { bytesRead } = await fh.read(probe, 0, PROBE_BYTES, 0);
    buf = probe.subarray(0, bytesRead);
    if (buf.subarray(0, 4).toString('latin1') === 'KDMV' && buf.length >= 44) {
      // Hosted sparse header: version (u32 @4), descriptorOffset (u64 LE @28, sectors).
      // Monolithic and stream-optimized images embed their descriptor there; the extents of a
      // split image have none (offset 0, or qemu-img's empty reserved region). A header that
      // makes no sense is a damaged image: a job of its own, so it fails into .errors/.
      const version = buf.readUInt32LE(4);
      const descOffset = buf.readBigUInt64LE(28);
      if (version < 1 || version > 3 || descOffset * 512n >= BigInt(fileSize)) return { kind: 'single' };
      if (descOffset === 0n) return { kind: 'extent' };
      region = Buffer.alloc(1024);
      const r = await fh.read(region, 0, region.length, Number(descOffset) * 512);
      region = region.subarray(0, r.bytesRead);
      return looksLikeDescriptor(region) ? { kind: 'single' } : { kind: 'extent' };
    }
  } finally {
    await fh.close();
  }
  const magic = buf.subarray(0, 4).toString('latin1');
  if (magic === 'KDMV') return { kind: 'single' }; // too short for a header: let the converter report it
  if (magic === 'COWD') return { kind: 'extent' };
  if (buf.length > 0 && looksLikeDescriptor(buf)) {
    const end = buf.indexOf(0);
    const { extents, unsafeExtents } = parseDescriptorExtents((end < 0 ? buf : buf.subarray(0, end)).toString('utf8'));
    const self = basename(path);
    return { kind: 'descriptor', extents: extents.filter((e) => e !== self), unsafeExtents };
  }
  // Not a descriptor and not a sparse header: flat extent data (e.g. disk-flat.vmdk), or junk.
  return { kind: 'headerless', size: fileSize };
}
