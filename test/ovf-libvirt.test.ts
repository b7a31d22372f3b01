// OVF parsing and the libvirt domain XML: controller order, vCPUs, memory, firmware and
// NICs from a VMware-style descriptor; the XML validates with `virt-xml-validate`.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocationUnits, parseOvf } from '../src/ovf/parse-ovf.js';
import { buildDomainXml, domainName, virtioDiskName } from '../src/ovf/libvirt-xml.js';
import { vmwareOvf } from './helpers/ovf-samples.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'h2k-ovf-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function validate(xml: string): { code: number | null; out: string } {
  const path = join(dir, `dom-${Math.random().toString(36).slice(2)}.xml`);
  writeFileSync(path, xml);
  const r = spawnSync('virt-xml-validate', [path, 'domain'], { encoding: 'utf8' });
  if (r.error) throw r.error; // a missing validator is a failure, not a skip
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const sample = {
  name: 'web server 01',
  vcpus: 4,
  memoryMiB: 6144,
  efi: true,
  disks: [
    { href: 'web-disk-ide.vmdk', capacityGiB: 2, controller: 'ide' as const, unit: 0 },
    { href: 'web-disk-data.vmdk', capacityGiB: 100, controller: 'scsi' as const, unit: 1 },
    { href: 'web-disk-boot.vmdk', capacityGiB: 20, controller: 'scsi' as const, unit: 0 },
  ],
  nics: [
    { network: 'VM Network', model: 'VmxNet3', mac: '00:50:56:aa:bb:cc' },
    { network: 'Backup', model: 'E1000' },
  ],
};

describe('parseOvf', () => {
  it('reads name, CPUs, memory, firmware, NICs and orders disks by controller then unit', () => {
    const vm = parseOvf(vmwareOvf(sample), 'vm.ovf');
    expect(vm.name).toBe('web server 01');
    expect(vm.vcpus).toBe(4);
    expect(vm.memoryBytes).toBe(6144 * 2 ** 20);
    expect(vm.firmware).toBe('efi');
    expect(vm.disks.map((d) => d.file.href)).toEqual(['web-disk-boot.vmdk', 'web-disk-data.vmdk', 'web-disk-ide.vmdk']);
    expect(vm.disks.map((d) => d.controller)).toEqual(['scsi', 'scsi', 'ide']);
    expect(vm.disks[0].capacityBytes).toBe(20 * 2 ** 30);
    expect(vm.nics).toEqual([
      { name: 'Network adapter 1', network: 'VM Network', model: 'VmxNet3', mac: '00:50:56:aa:bb:cc' },
      { name: 'Network adapter 2', network: 'Backup', model: 'E1000', mac: undefined },
    ]);
    expect(parseOvf(vmwareOvf({ ...sample, efi: false }), 'vm.ovf').firmware).toBe('bios');
  });

  it('understands allocation units and rejects broken descriptors with E_OVF_INVALID', () => {
    expect(allocationUnits('byte * 2^30')).toBe(2 ** 30);
    expect(allocationUnits('byte*1024')).toBe(1024);
    expect(allocationUnits(undefined)).toBe(1);
    expect(() => parseOvf('<Envelope><References>', 'vm.ovf')).toThrowError(expect.objectContaining({ code: 'E_OVF_INVALID' }));
    expect(() => parseOvf('<foo/>', 'vm.ovf')).toThrowError(expect.objectContaining({ code: 'E_OVF_INVALID' }));
    const broken = vmwareOvf(sample).replace('ovf:fileRef="file1"', 'ovf:fileRef="nope"');
    expect(() => parseOvf(broken, 'vm.ovf')).toThrowError(expect.objectContaining({ code: 'E_OVF_INVALID' }));
  });

  it('every error names the descriptor (file and message) and the element at fault', () => {
    const ovf = vmwareOvf(sample);
    const cases: Array<[string, RegExp]> = [
      [ovf.replace('ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^30" ', ''), /^vm\.ovf: <Disk ovf:diskId="vmdisk1"> has no ovf:capacity$/],
      [ovf.replace('ovf:fileRef="file2"', 'ovf:fileRef="nope"'), /^vm\.ovf: <Disk ovf:diskId="vmdisk2"> refers to unknown file ovf:fileRef="nope"/],
      [ovf.replace('ovf:/disk/vmdisk3', 'ovf:/disk/x'), /^vm\.ovf: <Item> with ResourceType 17 refers to unknown disk ovf:\/disk\/x$/],
      [ovf.replace('ovf:capacity="100" ovf:capacityAllocationUnits="byte * 2^30"', 'ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^80"'), /^vm\.ovf: <Disk ovf:diskId="vmdisk2"> ovf:capacity is 1 x byte \* 2\^80, beyond the 8 PiB/],
      [ovf.replace('ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1"', 'ovf:capacityAllocationUnits="parsecs" ovf:diskId="vmdisk1"'), /^vm\.ovf: <Disk ovf:diskId="vmdisk1"> ovf:capacity has unknown allocation units "parsecs"$/],
      [ovf.replace('<rasd:VirtualQuantity>4</rasd:VirtualQuantity>', '<rasd:VirtualQuantity>1e9</rasd:VirtualQuantity>'), /^vm\.ovf: <Item> with ResourceType 3 \(InstanceID "1"\) VirtualQuantity is "1e9", not a whole number$/],
      [ovf.replace('<rasd:VirtualQuantity>4</rasd:VirtualQuantity>', '<rasd:VirtualQuantity>100000</rasd:VirtualQuantity>'), /asks for 100000 vCPUs; KVM runs 1 to 4096/],
      [ovf.replace('ovf:href="web-disk-data.vmdk" ovf:id="file2"', 'ovf:href="web-disk-data.vmdk" ovf:id="file1"'), /^vm\.ovf: <File ovf:id="file1" ovf:href="web-disk-data.vmdk">: a second <File> with the same ovf:id$/],
      [ovf.replace('<Name>', '<Name>&lol9;'), /^vm\.ovf: line \d+ is not well-formed XML: reference to undefined entity &lol9;$/],
    ];
    for (const [xml, message] of cases) {
      let err: unknown;
      try {
        parseOvf(xml, '/appliances/vm.ova/vm.ovf');
      } catch (e) {
        err = e;
      }
      expect(err, String(message)).toMatchObject({ file: '/appliances/vm.ova/vm.ovf' });
      expect((err as Error).message).toMatch(message);
      expect((err as { code: string }).code).toMatch(/^E_OVF_INVALID$/);
    }
    const doctype = ovf.replace('?>', '?>\n<!DOCTYPE Envelope [<!ENTITY a "b">]>');
    expect(() => parseOvf(doctype, 'vm.ovf')).toThrowError(expect.objectContaining({ code: 'E_OVF_DOCTYPE', message: expect.stringMatching(/^vm\.ovf: line 2 declares a DOCTYPE with entities; OVF descriptors never need one$/) }));
  });
});

describe('buildDomainXml', () => {
  it('writes virtio disks in order, virtio NICs, UEFI, and validates with virt-xml-validate', () => {
    const vm = parseOvf(vmwareOvf(sample), 'vm.ovf');
    const disks = vm.disks.map((_, i) => ({ path: join(dir, `web-disk${i + 1}.qcow2`), format: 'qcow2' as const }));
    const xml = buildDomainXml(vm, disks, { network: 'default' });
    expect(xml).toContain(`<name>web-server-01</name>`);
    expect(xml).toContain(`<vcpu placement='static'>4</vcpu>`);
    expect(xml).toContain(`<memory unit='KiB'>${6144 * 1024}</memory>`);
    expect(xml).toContain(`<os firmware='efi'>`);
    expect(xml.match(/<target dev='vd[abc]' bus='virtio'\/>/g)).toHaveLength(3);
    expect(xml.indexOf('web-disk1.qcow2')).toBeLessThan(xml.indexOf('web-disk2.qcow2'));
    expect(xml.match(/<model type='virtio'\/>/g)!.length).toBeGreaterThanOrEqual(2);
    expect(xml).toContain(`<mac address='00:50:56:aa:bb:cc'/>`);
    const v = validate(xml);
    expect(v.out).toContain('validates');
    expect(v.code).toBe(0);
  });

  it('BIOS guests and odd names validate too; the validator rejects a broken domain', () => {
    const vm = parseOvf(vmwareOvf({ ...sample, name: 'a/b &lt;&amp;&gt; c', efi: false, nics: [] }), 'vm.ovf');
    const xml = buildDomainXml(vm, [{ path: '/var/lib/libvirt/images/x.raw', format: 'raw' }]);
    expect(xml).not.toContain('firmware=');
    expect(validate(xml).code).toBe(0);
    expect(validate(xml.replace('<vcpu', '<vcpux').replace('</vcpu>', '</vcpux>')).code).not.toBe(0);
    expect(domainName('  ')).toBe('vm');
    expect([0, 1, 25, 26, 27].map(virtioDiskName)).toEqual(['vda', 'vdb', 'vdz', 'vdaa', 'vdab']);
  });
});

it('virt-xml-validate is installed (libvirt-clients)', () => {
  expect(execFileSync('sh', ['-c', 'command -v virt-xml-validate'], { encoding: 'utf8' }).trim()).not.toBe('');
});
