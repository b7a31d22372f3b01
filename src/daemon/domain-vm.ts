// emit_domain_xml in the watch-folder daemon: the VM its <outDir>/<vm>.xml describes, over every
// disk of the job, written by the one domain XML writer (ovf/libvirt-xml.ts writeDomainXml).
// A disk image brings no VM description, so vm_memory / vm_vcpus / vm_uefi describe it; an OVA
// (or OVF) brings its VM (name, CPUs, memory, firmware, NICs), and only the vm_* keys the config
// sets itself override it — except that vm_uefi: false never turns an EFI VM into a BIOS one,
// which could not boot, and a guest the fix stage found booting by UEFI gets EFI firmware whatever
// the keys say.
import type { DaemonConfig } from '../config/daemon-schema.js';
import { domainXmlSettings } from '../config/guest-output-schema.js';
import type { OvfVm } from '../ovf/ovf-types.js';

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
