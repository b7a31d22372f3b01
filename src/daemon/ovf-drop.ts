// A loose .ovf dropped in the watch folder is a job that carries its files: the disk files its
// <File ovf:href> name, and its manifest (<stem>.mf, the one loadOvf checks) when one is beside
// it. The descriptor is read through the caller's checked open (no links, no FIFOs) with the
// OVF reader's size cap and parsed by src/ovf's parser (DOCTYPE refused), never another one.
import { basename } from 'node:path';
import { looseManifestPath } from '../ovf/import-ovf.js';
import { readOvfFd } from '../ovf/ovf-xml-guard.js';
import { parseOvf } from '../ovf/parse-ovf.js';
import type { FileRole, OpenForProbe } from './image-files.js';

export function isOvfPath(path: string): boolean {
  return /\.ovf$/i.test(path);
}

/** A manifest is never a job of its own: it travels with the .ovf of the same stem. */
export function isManifestPath(path: string): boolean {
  return /\.mf$/i.test(path);
}

/** The .mf a dropped .ovf claims (whether or not it is there). */
export function manifestOf(ovfPath: string): string {
  return looseManifestPath(ovfPath);
}

/**
 * The files a dropped .ovf names, as a descriptor role: each disk's href (bare names; names with a
 * directory part go to unsafeExtents and refuse the .ovf, as a VMDK extent's would). The .mf is
 * added by the watcher, which knows whether it is there. Parse errors are thrown (coded).
 */
export async function classifyOvf(path: string, openFile: OpenForProbe): Promise<FileRole> {
  const fh = await openFile(path);
  let text: string;
  try {
    text = readOvfFd(fh.fd, path);
  } finally {
    await fh.close();
  }
  const vm = parseOvf(text, path);
  const extents: string[] = [];
  const unsafeExtents: string[] = [];
  for (const d of vm.disks) {
    const href = d.file.href;
    if (href === '' || href === '.' || href === '..' || href !== basename(href) || href.includes('\0')) unsafeExtents.push(href);
    else if (href !== basename(path) && !extents.includes(href)) extents.push(href);
  }
  return { kind: 'descriptor', extents, unsafeExtents };
}
