// emit_domain_xml in the watch-folder daemon: <outDir>/<vm>.xml over every disk of the job, built
// and written by the manifest workflow's writer (the builder `h2k ovf --libvirt-xml` uses).
// A disk image brings no VM description, so vm_memory / vm_vcpus / vm_uefi describe it; an OVA
// (or OVF) brings its VM (name, CPUs, memory, firmware, NICs), and only the vm_* keys the config
// sets itself override it — except that vm_uefi: false never turns an EFI VM into a BIOS one,
// which could not boot, and a guest the fix stage found booting by UEFI gets EFI firmware whatever
// the keys say.
import { resolve, join } from 'node:path';
import type { DaemonConfig } from '../config/daemon-schema.js';
import { domainXmlSettings } from '../config/guest-output-schema.js';
import type { OvfVm } from '../ovf/ovf-types.js';
import { writeLibvirtXml } from '../workflow/libvirt-output.js';

export interface DomainXmlReport {
  path: string;
  /** what the domain got: from the config, or from the OVA's OVF */
  name: string;
  memory_mib: number;
  vcpus: number;
  firmware: 'bios' | 'efi';
  nics: number;
  warnings: string[];
}

const MIB = 1024 * 1024;

/**
 * The VM the domain describes: the OVF's (an OVA or loose .ovf, as the job planned it), else one
 * built from the vm_* keys; undefined when emit_domain_xml is off.
 */
export function domainVm(
  cfg: DaemonConfig, vmName: string, ovfVm: OvfVm | undefined, guestFirmware?: 'bios' | 'uefi',
): { vm: OvfVm; warnings: string[] } | undefined {
  const d = domainFromKeys(cfg, vmName, ovfVm);
  if (d && guestFirmware === 'uefi' && d.vm.firmware !== 'efi') {
    d.vm = { ...d.vm, firmware: 'efi' };
    d.warnings.push('firmware: EFI, because the guest boots by UEFI (its EFI system partition holds the loaders): BIOS could not boot it');
  }
  return d;
}

function domainFromKeys(cfg: DaemonConfig, vmName: string, ovfVm: OvfVm | undefined): { vm: OvfVm; warnings: string[] } | undefined {
  const s = domainXmlSettings(cfg);
  if (!s) return undefined;
  const set = new Set(cfg.keys_set ?? []);
  const warnings: string[] = [];
  if (!ovfVm) {
    // one virtio NIC on libvirt's default network: a migrated server without one is rarely wanted
    return {
      vm: { name: vmName, vcpus: s.vcpus, memoryBytes: s.memoryMiB * MIB, firmware: s.firmware === 'uefi' ? 'efi' : 'bios', disks: [], nics: [{ name: 'nic0', network: 'default' }], files: [] },
      warnings,
    };
  }
  const vm = ovfVm;
  const out: OvfVm = { ...vm };
  if (set.has('vm_memory')) out.memoryBytes = s.memoryMiB * MIB;
  if (set.has('vm_vcpus')) out.vcpus = s.vcpus;
  if (s.firmware === 'uefi') out.firmware = 'efi';
  else if (set.has('vm_uefi') && vm.firmware === 'efi')
    warnings.push('vm_uefi: false ignored for this VM: its OVF says EFI firmware, and an EFI-installed guest cannot boot with BIOS');
  return { vm: out, warnings };
}

/** Writes the domain XML (<outDir>/<vm>.xml) over the job's disks (boot disk first). */
export async function writeDomainXml(xmlPath: string, domain: { vm: OvfVm; warnings: string[] }, outputs: string[], format: string): Promise<DomainXmlReport> {
  const path = resolve(xmlPath);
  // A redo after a crash may find its own earlier XML; the output dir choice protects others'.
  await writeLibvirtXml(path, domain.vm, outputs.map((o) => ({ path: resolve(o), format })), { overwrite: true });
  const v = domain.vm;
  return { path, name: v.name, memory_mib: Math.round(v.memoryBytes / MIB), vcpus: v.vcpus, firmware: v.firmware, nics: v.nics.length, warnings: domain.warnings };
}
