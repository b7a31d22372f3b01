// The disks one watch-folder job converts, loaded by the pipeline's load stage (probeSource, the
// one `h2k ovf` and manifests use). A disk image is one disk, converted as its name promises; an
// OVA or a loose .ovf is every disk its OVF lists, in controller order, so a multi-disk VM is
// never archived as a success with only its first disk converted.
import { join } from 'node:path';
import type { OvfVm } from '../ovf/ovf-types.js';
import { H2kError } from '../util/errors.js';
import { multiDiskOutputs } from '../workflow/output-path.js';
import { probeSource } from '../workflow/source-probe.js';
import type { ConvertibleDisk } from '../workflow/stages/convert.js';
import { isOvfPath } from './ovf-drop.js';

export interface PlannedVm {
  disks: ConvertibleDisk[];
  /** `<outDir>/<vm>.<fmt>` for one disk; `<vm>-disk<N>.<fmt>` for several (the pipeline's names). */
  outputs: string[];
  /** An OVA's or loose .ovf's VM as its descriptor describes it (the domain XML uses it). */
  ovfVm?: OvfVm;
}

export async function planVmDisks(source: string, sourceFormat: string, outDir: string, vm: string, format: string): Promise<PlannedVm> {
  const single = join(outDir, `${vm}.${format}`);
  const type = isOvfPath(source) ? 'ovf' : sourceFormat === 'ova' ? 'ova' : undefined;
  // a disk image: not probed here (the conversion opens it as its name promises; size unknown)
  if (!type) return { disks: [{ source, engineFormat: sourceFormat, virtualSize: 0 }], outputs: [single] };
  // An OVA's member digests are checked by the conversion's own reads; a loose .ovf's .mf,
  // descriptor and every disk, here, before any output is written (a second read of each disk:
  // the daemon's jobs favour failing before writing over one pass, and its pool converts).
  const probe = await probeSource(source, type, source, { deferDigests: type === 'ova' });
  if (probe.disks.length === 0)
    throw new H2kError(`${source} describes no disks`, { code: 'E_OVF_INVALID', file: source, hint: 'the OVF descriptor lists no disk with a file; re-export the VM' });
  const n = probe.disks.length;
  return { disks: probe.disks, outputs: n === 1 ? [single] : multiDiskOutputs(single, format, n).disks, ovfVm: probe.ovfVm };
}
