// The disks one watch-folder job converts. A disk image is one disk; an OVA is every disk its OVF
// lists, in controller order (src/ovf's loader, the same one `h2k ovf` and manifests use), so a
// multi-disk VM is never archived as a success with only its first disk converted.
import { join } from 'node:path';
import { loadOvf } from '../ovf/import-ovf.js';

export interface PlannedDisk {
  /** What the native reader opens: the file, or "<vm.ova>/<member>". */
  source: string;
  output: string;
}

/**
 * One disk: `<outDir>/<vm>.<fmt>`, as before. Several (an OVA of N disks): `<vm>-disk<N>.<fmt>`,
 * the names `h2k ovf` and manifests give them.
 */
export async function planVmDisks(source: string, sourceFormat: string, outDir: string, vm: string, format: string): Promise<PlannedDisk[]> {
  if (sourceFormat !== 'ova') return [{ source, output: join(outDir, `${vm}.${format}`) }];
  const { diskSources } = await loadOvf(source);
  if (diskSources.length === 1) return [{ source: diskSources[0], output: join(outDir, `${vm}.${format}`) }];
  return diskSources.map((s, i) => ({ source: s, output: join(outDir, `${vm}-disk${i + 1}.${format}`) }));
}
