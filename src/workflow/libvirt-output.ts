// The libvirt domain XML of a multi-disk VM, beside its converted disks (manifest pipeline and
// `h2k ovf --libvirt-xml`), written atomically so a reader never sees half a domain.
import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-write.js';
import { buildDomainXml, type LibvirtDisk } from '../ovf/libvirt-xml.js';
import type { OvfVm } from '../ovf/ovf-types.js';
import { H2kError } from '../util/errors.js';

export interface LibvirtXmlOptions {
  overwrite: boolean;
  /** libvirt network for the NICs (default "default") */
  network?: string;
  /** what to do about an existing file (the manifest's key, or the CLI's flag) */
  existsHint?: string;
}

export async function writeLibvirtXml(path: string, vm: OvfVm, disks: LibvirtDisk[], options: LibvirtXmlOptions): Promise<void> {
  if (!options.overwrite && existsSync(path))
    throw new H2kError(`output already exists: ${path}`, {
      code: 'E_OUTPUT_EXISTS', file: path, hint: options.existsHint ?? 'remove it or set convert.overwrite: true',
    });
  await writeFileAtomic(path, buildDomainXml(vm, disks, { network: options.network }));
}
