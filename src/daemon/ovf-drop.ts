// A loose .ovf dropped in the watch folder is a job that carries its files: the disk files its
// <File ovf:href> name, and its manifest (<stem>.mf, the one loadOvf checks) when one is beside
// it. The descriptor is read through the caller's checked open (no links, no FIFOs) with the
// OVF reader's size cap and parsed by src/ovf's parser (DOCTYPE refused), never another one.
import type { FileHandle } from 'node:fs/promises';
import { looseManifestPath } from '../ovf/import-ovf.js';
import { readOvfFd } from '../ovf/ovf-xml-guard.js';
import { parseOvf } from '../ovf/parse-ovf.js';

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
 * The disk files a dropped .ovf names (each disk's href, as written: image-files.ts refuses the
 * .ovf for a name with a directory part, as it does a VMDK extent's). The .mf is added by the
 * watcher, which knows whether it is there. Parse errors are thrown (coded).
 */
export async function ovfDiskFiles(path: string, openFile: (path: string) => Promise<FileHandle>): Promise<string[]> {
  const fh = await openFile(path);
  let text: string;
  try {
    text = readOvfFd(fh.fd, path);
  } finally {
    await fh.close();
  }
  return parseOvf(text, path).disks.map((d) => d.file.href);
}
