// OvfVm + converted disk paths -> a libvirt domain XML with virtio devices (virtio-blk
// disks vda.., virtio-net NICs), BIOS or UEFI firmware. Valid per `virt-xml-validate`.
// writeDomainXml is the one writer of it: the manifest pipeline, `h2k ovf --libvirt-xml` and
// the daemon's emit_domain_xml.
import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-write.js';
import { H2kError } from '../util/errors.js';
import type { OvfVm } from './ovf-types.js';

export interface LibvirtDisk {
  path: string; // absolute
  format: string; // the qemu driver type libvirt passes on (an output format: src/native/formats.ts)
}

export interface LibvirtOptions {
  /** libvirt network every NIC attaches to (OVF network names rarely exist on the KVM host). */
  network?: string;
}

export interface WriteDomainOptions extends LibvirtOptions {
  overwrite: boolean;
  /** what to do about an existing file (the manifest's key, or the CLI's flag) */
  existsHint?: string;
}

/** What a written domain describes (the daemon's report.json shows it). */
export interface DomainSummary {
  path: string;
  name: string;
  memory_mib: number;
  vcpus: number;
  firmware: 'bios' | 'efi';
  nics: number;
}

const MIB = 1024 * 1024;

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** vda, vdb, ..., vdz, vdaa, ... */
export function virtioDiskName(index: number): string {
  let name = '';
  let n = index;
  do {
    name = String.fromCharCode(97 + (n % 26)) + name;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return 'vd' + name;
}

/** libvirt domain names: no slashes; keep it readable. */
export function domainName(name: string): string {
  const cleaned = name.replace(/[/\\\s]+/g, '-').replace(/[^A-Za-z0-9._+-]/g, '').replace(/^-+|-+$/g, '');
  return cleaned || 'vm';
}

function macOk(mac: string | undefined): mac is string {
  return !!mac && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0;
}

export function buildDomainXml(vm: OvfVm, disks: LibvirtDisk[], options: LibvirtOptions = {}): string {
  const memoryKiB = Math.max(1, Math.round(vm.memoryBytes / 1024));
  const network = options.network ?? 'default';
  const lines: string[] = [];
  lines.push(`<domain type='kvm'>`);
  lines.push(`  <name>${escapeXml(domainName(vm.name))}</name>`);
  if (vm.osType) lines.push(`  <description>${escapeXml(`Imported by h2k from OVF (guest OS: ${vm.osType})`)}</description>`);
  lines.push(`  <memory unit='KiB'>${memoryKiB}</memory>`);
  lines.push(`  <currentMemory unit='KiB'>${memoryKiB}</currentMemory>`);
  lines.push(`  <vcpu placement='static'>${vm.vcpus}</vcpu>`);
  lines.push(vm.firmware === 'efi' ? `  <os firmware='efi'>` : `  <os>`);
  lines.push(`    <type arch='x86_64' machine='q35'>hvm</type>`);
  lines.push(`    <boot dev='hd'/>`);
  lines.push(`  </os>`);
  lines.push(`  <features>`, `    <acpi/>`, `    <apic/>`, `  </features>`);
  lines.push(`  <cpu mode='host-passthrough'/>`);
  lines.push(`  <clock offset='utc'/>`);
  lines.push(`  <on_poweroff>destroy</on_poweroff>`, `  <on_reboot>restart</on_reboot>`, `  <on_crash>destroy</on_crash>`);
  lines.push(`  <devices>`);
  disks.forEach((d, i) => {
    lines.push(`    <disk type='file' device='disk'>`);
    lines.push(`      <driver name='qemu' type='${d.format}' discard='unmap'/>`);
    lines.push(`      <source file='${escapeXml(d.path)}'/>`);
    lines.push(`      <target dev='${virtioDiskName(i)}' bus='virtio'/>`);
    if (i === 0) lines.push(`      <boot order='1'/>`);
    lines.push(`    </disk>`);
  });
  for (const nic of vm.nics) {
    lines.push(`    <interface type='network'>`);
    if (macOk(nic.mac)) lines.push(`      <mac address='${nic.mac.toLowerCase()}'/>`);
    lines.push(`      <source network='${escapeXml(network)}'/>`);
    lines.push(`      <model type='virtio'/>`);
    lines.push(`    </interface>`);
  }
  lines.push(`    <serial type='pty'>`, `      <target port='0'/>`, `    </serial>`);
  lines.push(`    <console type='pty'>`, `      <target type='serial' port='0'/>`, `    </console>`);
  lines.push(`    <graphics type='vnc' port='-1' autoport='yes'/>`);
  lines.push(`    <video>`, `      <model type='virtio'/>`, `    </video>`);
  lines.push(`    <memballoon model='virtio'/>`);
  lines.push(`    <rng model='virtio'>`, `      <backend model='random'>/dev/urandom</backend>`, `    </rng>`);
  lines.push(`  </devices>`);
  lines.push(`</domain>`);
  return lines.join('\n') + '\n';
}

/** Writes the domain XML to `path` atomically, so a reader never sees half a domain. */
export async function writeDomainXml(path: string, vm: OvfVm, disks: LibvirtDisk[], options: WriteDomainOptions): Promise<DomainSummary> {
  if (!options.overwrite && existsSync(path))
    throw new H2kError(`output already exists: ${path}`, {
      code: 'E_OUTPUT_EXISTS', file: path, hint: options.existsHint ?? 'remove it or set convert.overwrite: true',
    });
  await writeFileAtomic(path, buildDomainXml(vm, disks, { network: options.network }));
  return { path, name: vm.name, memory_mib: Math.round(vm.memoryBytes / MIB), vcpus: vm.vcpus, firmware: vm.firmware, nics: vm.nics.length };
}
