// hyper2kvm's guest-fix and VM-output keys in the real watch-folder daemon: a VMware-style guest
// dropped as a VMDK is converted, fixed by fixImage (one appliance), read back with plain
// guestfish, and described by a domain XML that virt-xml-validate accepts; the source stays
// byte-identical. emit_domain_xml alone opens no guest. A fix that fails in the guest, or a
// Windows guest, fails the job unretried with its outputs removed; a disk with no OS converts.
// Debian packages: libguestfs-tools, qemu-utils, libvirt-clients (virt-xml-validate), and those of
// test/helpers/guest-fixtures.ts.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand, runH2k } from './helpers/cli.js';
import { makeSeededRaw, qemuImg, toVmdk } from './helpers/fixtures.js';
import { daemonTestScope, type DaemonHarness } from './helpers/daemon-harness.js';
import { manifestFor, writeTar, type TarEntry } from './helpers/formats-fixtures.js';
import { ROOT_UUID, SWAP_UUID, VMWARE_MAC, vmwareGuestDisk, windowsLookalikeDisk } from './helpers/guest-fixtures.js';
import { readGuestFiles } from './helpers/guestfish-readback.js';
import { vmwareOvf } from './helpers/ovf-samples.js';
import { localDate } from '../src/util/local-date.js';

const APPLIANCE_MS = 600_000;
const { fx, start: startTracked } = daemonTestScope('daemon-guest-fx');

const md5 = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex');

async function start(config: Record<string, unknown>): Promise<DaemonHarness> {
  const h = await startTracked({ config });
  return h;
}

async function expectValidXml(path: string): Promise<string> {
  const v = await runCommand('virt-xml-validate', [path, 'domain']);
  expect(v.code, v.stdout + v.stderr).toBe(0);
  return readFileSync(path, 'utf8');
}

/** The VMware guest with an update-grub that fails: a requested fix that fails in the guest.
 *  Written with debugfs into the root partition (1 MiB in), no appliance. */
function guestWithFailingUpdateGrub(out: string): string {
  copyFileSync(vmwareGuestDisk(), out);
  const part = `${out}.root`;
  const script = `${out}.update-grub`;
  writeFileSync(script, '#!/bin/sh\necho "update-grub: simulated failure" >&2\nexit 1\n');
  execFileSync('dd', [`if=${out}`, `of=${part}`, 'bs=1M', 'skip=1', 'count=80', 'status=none']);
  execFileSync('debugfs', ['-w', '-f', '-', part], { input: `mkdir /usr/sbin\nwrite ${script} /usr/sbin/update-grub\nsif /usr/sbin/update-grub mode 0100755\n`, stdio: ['pipe', 'ignore', 'pipe'] });
  execFileSync('dd', [`if=${part}`, `of=${out}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
  return out;
}

const report = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));

describe('watch folder: guest fixes and domain XML', () => {
  it('fixes a dropped VMware guest (fstab, grub, network, VMware tools) and writes a valid domain XML', async () => {
    const vmdk = join(fx.dir, 'vmware-guest.vmdk');
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', vmwareGuestDisk(), vmdk]);
    const sourceMd5 = md5(vmdk);
    const h = await start({
      fstab_mode: 'stabilize-all', update_grub: true, regen_initramfs: true, network_fix_level: 'aggressive', remove_vmware_tools: true,
      emit_domain_xml: true, vm_memory: 1536, vm_vcpus: 3, vm_uefi: true,
    });
    copyFileSync(vmdk, join(h.watchDir, 'vmware-guest.vmdk'));
    const done = await h.waitForEvent('job_succeeded', undefined, APPLIANCE_MS);
    const dir = join(h.outputDir, localDate(), 'vmware-guest');
    const output = join(dir, 'vmware-guest.qcow2');
    expect(done.output).toBe(output);
    expect(h.count('guest_fix_started')).toBe(1);
    expect(h.events.filter((e) => e.event === 'guest_appliance' && /starting libguestfs appliance/.test(e.msg))).toHaveLength(1);

    const r = report(dir);
    expect(r.guest_fix).toMatchObject({ image: output, requested_by: ['fstab_mode', 'regen_initramfs', 'update_grub', 'remove_vmware_tools', 'network_fix_level'] });
    expect(r.guest_fix.os).toMatchObject({ type: 'linux', distro: 'debian', root: '/dev/sda1' });
    const fstab = r.guest_fix.changes.find((c: { file: string }) => c.file === '/etc/fstab');
    expect(fstab).toMatchObject({ kind: 'fstab', before: expect.stringContaining('/dev/sda1       /'), after: expect.stringContaining(`UUID=${ROOT_UUID}       /`) });
    // the fixture lacks update-grub/update-initramfs: said so, not a failure
    expect(r.guest_fix.warnings.join('\n')).toMatch(/initramfs was not regenerated/);
    // sizes reported are those of the fixed file
    expect(r.output.bytes).toBe(statSync(output).size);

    // plain guestfish sees every rewrite in the output
    const { files } = readGuestFiles(output, 'qcow2', ['/etc/fstab', '/boot/grub/grub.cfg', '/etc/network/interfaces', '/etc/initramfs-tools/modules', '/etc/vmware-tools']);
    expect(files['/etc/fstab']).toContain(`UUID=${SWAP_UUID}       none            swap`);
    expect(files['/etc/fstab']).not.toMatch(/^\/dev\/sda/m);
    expect(files['/boot/grub/grub.cfg']).toContain(`root=UUID=${ROOT_UUID} ro quiet resume=UUID=${SWAP_UUID} net.ifnames=0 biosdevname=0`);
    expect(files['/etc/network/interfaces']).toContain('iface eth0 inet static');
    expect(files['/etc/network/interfaces']).toContain(`# h2k: MAC pinning removed: \thwaddress ether ${VMWARE_MAC}`);
    expect(files['/etc/initramfs-tools/modules']).toMatch(/^virtio_blk$/m);
    expect(files['/etc/vmware-tools']).toBeNull();

    // the domain XML: vm_* keys, OVMF, the fixed disk
    expect(r.libvirt_xml).toMatchObject({ path: join(dir, 'vmware-guest.xml'), memory_mib: 1536, vcpus: 3, firmware: 'efi' });
    const xml = await expectValidXml(r.libvirt_xml.path);
    expect(xml).toContain(`<memory unit='KiB'>${1536 * 1024}</memory>`);
    expect(xml).toContain(`<vcpu placement='static'>3</vcpu>`);
    expect(xml).toContain(`<os firmware='efi'>`);
    expect(xml).toContain(`<source file='${output}'/>`);
    expect(xml).toContain(`<target dev='vda' bus='virtio'/>`);

    // the source is archived untouched
    expect(md5(join(h.watchDir, '.processed', localDate(), 'vmware-guest.vmdk'))).toBe(sourceMd5);
  }, APPLIANCE_MS);

  it('emit_domain_xml alone opens no guest: a raw disk gets the vm_* keys, an OVA its OVF\'s VM with the keys the file sets', async () => {
    const raw = makeSeededRaw(join(fx.dir, 'data.img'), 4, 7);
    const disks = [1, 2].map((i) => toVmdk(makeSeededRaw(join(fx.dir, `app-${i}.raw`), 2, 10 + i), join(fx.dir, `app-${i}.vmdk`), 'streamOptimized'));
    const members: TarEntry[] = disks.map((p, i) => ({ name: `disk${i + 1}.vmdk`, path: p }));
    const ovf: TarEntry = {
      name: 'app.ovf',
      data: Buffer.from(vmwareOvf({
        name: 'ovf-app', vcpus: 2, memoryMiB: 1024, efi: true,
        disks: [{ href: 'disk1.vmdk', capacityBytes: 2 << 20, controller: 'scsi', unit: 0 }, { href: 'disk2.vmdk', capacityBytes: 2 << 20, controller: 'scsi', unit: 1 }],
        nics: [{ network: 'VM Network', model: 'VmxNet3', mac: '00:50:56:aa:bb:cc' }],
      })),
    };
    const ova = join(fx.dir, 'app.ova');
    writeTar(ova, [ovf, { name: 'app.mf', data: manifestFor([ovf, ...members]) }, ...members]);

    const h = await start({ emit_domain_xml: true, vm_vcpus: 4, vm_uefi: false, win_virtio: false });
    copyFileSync(raw, join(h.watchDir, 'data.img'));
    copyFileSync(ova, join(h.watchDir, 'app.ova'));
    await h.until('both jobs done', () => h.count('job_succeeded') === 2);
    expect(h.count('guest_fix_started') + h.count('guest_appliance')).toBe(0);

    const day = join(h.outputDir, localDate());
    const rawReport = report(join(day, 'data'));
    expect(rawReport.guest_fix).toBeUndefined();
    expect(rawReport.libvirt_xml).toMatchObject({ name: 'data', memory_mib: 2048, vcpus: 4, firmware: 'bios', nics: 1 });
    const rawXml = await expectValidXml(join(day, 'data', 'data.xml'));
    expect(rawXml).toContain(`<source file='${join(day, 'data', 'data.qcow2')}'/>`);
    expect(rawXml).toContain(`<os>`);

    // the OVF's name, memory, firmware (EFI kept against vm_uefi: false) and NIC; vm_vcpus as set
    const ovaReport = report(join(day, 'app'));
    expect(ovaReport.libvirt_xml).toMatchObject({ path: join(day, 'app', 'app.xml'), name: 'ovf-app', memory_mib: 1024, vcpus: 4, firmware: 'efi', nics: 1 });
    expect(ovaReport.libvirt_xml.warnings.join()).toMatch(/vm_uefi: false ignored for this VM: its OVF says EFI/);
    expect(h.count('domain_xml_warning')).toBe(1);
    const ovaXml = await expectValidXml(join(day, 'app', 'app.xml'));
    expect(ovaXml).toContain('<name>ovf-app</name>');
    expect(ovaXml).toContain(`<vcpu placement='static'>4</vcpu>`);
    expect(ovaXml).toContain(`<mac address='00:50:56:aa:bb:cc'/>`);
    expect(ovaXml).toMatch(new RegExp(`app-disk1\\.qcow2'/>\\s*<target dev='vda'[^]*app-disk2\\.qcow2'/>\\s*<target dev='vdb'`));
  });

  it('refuses to start when fixes are asked for and guestfish is missing (every job would fail)', async () => {
    const file = join(fx.dir, 'noguestfish.yaml');
    writeFileSync(file, `watch_dir: ${fx.dir}/ngw\noutput_dir: ${fx.dir}/ngo\nfstab_mode: stabilize-all\n`);
    const emptyBin = join(fx.dir, 'empty-bin');
    mkdirSync(emptyBin, { recursive: true });
    const r = await runH2k(['daemon', '--config', file], { env: { PATH: emptyBin }, timeout: 30_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/\[E_GUEST_TOOLS_MISSING\]: guest fixes are asked for \(fstab_mode\) but guestfish is not installed/);
    expect(r.stderr).toMatch(/hint: install libguestfs-tools/);
  }, 60_000);

  it('a failed fix or a Windows guest fails the job unretried and leaves no output; a disk with no OS converts with a warning', async () => {
    const blank = join(fx.dir, 'blank.img');
    writeFileSync(blank, Buffer.alloc(8 << 20));
    const badGrub = guestWithFailingUpdateGrub(join(fx.dir, 'badgrub.img'));
    const h = await start({ win_virtio: true, emit_domain_xml: true });
    copyFileSync(windowsLookalikeDisk(), join(h.watchDir, 'win.img'));
    copyFileSync(badGrub, join(h.watchDir, 'badgrub.img'));
    copyFileSync(blank, join(h.watchDir, 'blank.img'));
    await h.until('three jobs done', () => h.count('job_failed') === 2 && h.count('job_succeeded') === 1, APPLIANCE_MS);
    const day = join(h.outputDir, localDate());
    expect(h.count('job_retry')).toBe(0);

    // update-grub failed in the guest: the half-fixed output is removed, the source is in .errors/
    const grubFailed = h.events.find((e) => e.event === 'job_failed' && String(e.file).endsWith('badgrub.img'))!;
    expect(grubFailed).toMatchObject({ code: 'E_GUEST_FIX_FAILED', phase: 'guest_fix', retry_count: 0 });
    expect(grubFailed.msg).toMatch(/guest fixes of badgrub\.qcow2 failed: update-grub failed in the guest/);
    expect(JSON.parse(readFileSync(join(h.watchDir, '.errors', 'badgrub.img.error.json'), 'utf8'))).toMatchObject({ code: 'E_GUEST_FIX_FAILED', phase: 'guest_fix' });
    expect(existsSync(join(day, 'badgrub')) ? readdirSync(join(day, 'badgrub')) : []).toEqual([]);

    const failed = h.events.find((e) => e.event === 'job_failed' && String(e.file).endsWith('win.img'))!;
    // the look-alike has the Windows tree but no registry: nothing h2k can fix
    expect(failed).toMatchObject({ code: 'E_GUEST_WINDOWS_HIVE', phase: 'guest_fix', retry_count: 0 });
    expect(failed.msg).toMatch(/guest fix of win\.qcow2 failed: Windows guest \(.*\) cannot be fixed: no SYSTEM registry hive found/);
    const record = JSON.parse(readFileSync(join(h.watchDir, '.errors', 'win.img.error.json'), 'utf8'));
    expect(record).toMatchObject({ code: 'E_GUEST_WINDOWS_HIVE', phase: 'guest_fix', suggestion: expect.stringMatching(/^The Windows volume cannot be changed safely offline/) });
    expect(existsSync(join(day, 'win')) ? readdirSync(join(day, 'win')) : []).toEqual([]);

    const r = report(join(day, 'blank'));
    expect(r.guest_fix).toMatchObject({ os: null, changes: [], warnings: ['no guest OS found: no fixes applied'], requested_by: ['win_virtio'] });
    expect(r.libvirt_xml.path).toBe(join(day, 'blank', 'blank.xml'));
    expect(h.count('guest_no_os')).toBe(1);
  }, APPLIANCE_MS);
});
