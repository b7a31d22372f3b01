// The disks one watch-folder job converts. A disk image is one disk; an OVA or a loose .ovf is
// every disk its OVF lists, in controller order (src/ovf's loader, the same one `h2k ovf` and
// manifests use), so a multi-disk VM is never archived as a success with only its first disk
// converted.
import { join } from 'node:path';
import { H2kError } from '../util/errors.js';
import { assertLooseDiskContent } from '../ovf/disk-content.js';
import { loadOvf } from '../ovf/import-ovf.js';
import type { OvfVm } from '../ovf/ovf-types.js';
import { isOvfPath } from './ovf-drop.js';

export interface PlannedDisk {
  /** What the native reader opens: the file, or "<vm.ova>/<member>". */
  source: string;
  output: string;
  /** A loose OVF's disk: opened beneath this directory (the .ovf's), as its href was written by the appliance. */
  sourceRoot?: string;
}

/**
 * One disk: `<outDir>/<vm>.<fmt>`, as before. Several (an OVA or .ovf of N disks):
 * `<vm>-disk<N>.<fmt>`, the names `h2k ovf` and manifests give them.
 */
export interface PlannedVm {
  disks: PlannedDisk[];
  /** An OVA's or loose .ovf's VM as its descriptor describes it (the domain XML uses it). */
  ovfVm?: OvfVm;
}

export async function planVmDisks(source: string, sourceFormat: string, outDir: string, vm: string, format: string): Promise<PlannedVm> {
  const loose = isOvfPath(source);
  if (sourceFormat !== 'ova' && !loose) return { disks: [{ source, output: join(outDir, `${vm}.${format}`) }] };
  // A loose .ovf's .mf is checked here, descriptor and every disk, before any output is written
  // (a second read of each disk; the daemon's jobs favour failing before writing over one pass).
  const { vm: ovf, diskSources, diskRoot } = await loadOvf(source);
  if (diskSources.length === 0)
    throw new H2kError(`${source} describes no disks`, { code: 'E_OVF_INVALID', file: source, hint: 'the OVF descriptor lists no disk with a file; re-export the VM' });
  // Every loose disk is a disk by content, the verdict `h2k ovf` gives (E_OVF_NOT_A_DISK).
  if (loose) diskSources.forEach((s, i) => assertLooseDiskContent(s, ovf.disks[i], source, diskRoot));
  const root = diskRoot ? { sourceRoot: diskRoot } : {};
  if (diskSources.length === 1) return { disks: [{ source: diskSources[0], output: join(outDir, `${vm}.${format}`), ...root }], ovfVm: ovf };
  return { disks: diskSources.map((s, i) => ({ source: s, output: join(outDir, `${vm}-disk${i + 1}.${format}`), ...root })), ovfVm: ovf };
}
