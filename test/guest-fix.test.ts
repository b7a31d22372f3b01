// End to end: a VMware-style guest (busybox root, /dev/sda1 fstab, grub root=/dev/sda1, ens192 with
// a pinned MAC, VMware tools) -> VMDK (qemu-img) -> h2k convert -> h2k fix -> guestfish read-back
// -> h2k validate --boot, which must see the guest's init marker on the serial console.
// Debian packages: libguestfs-tools, qemu-utils, qemu-system-x86, linux-image-amd64, busybox-static,
// e2fsprogs, fdisk (scripts/setup-system.sh installs them).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runH2k } from './helpers/cli.js';
import { BOOT_MARKER, ROOT_UUID, SWAP_UUID, VMWARE_MAC, hostKernel, vmwareGuestDisk } from './helpers/guest-fixtures.js';
import { readGuestFiles } from './helpers/guestfish-readback.js';

const APPLIANCE_MS = 600_000;
const md5 = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex');

describe('guest fix end to end (VMDK -> convert -> fix -> read back -> boot)', () => {
  let dir: string;
  let vmdk: string;
  let output: string;
  let vmdkMd5: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'h2k-guest-fix-'));
    vmdk = join(dir, 'vmware-guest.vmdk');
    output = join(dir, 'vmware-guest.qcow2');
    const made = await runCommand('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', vmwareGuestDisk(), vmdk]);
    expect(made.code, made.stderr).toBe(0);
    vmdkMd5 = md5(vmdk);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('h2k convert turns the VMDK into a qcow2 with identical content', async () => {
    const r = await runH2k(['convert', vmdk, '-o', output]);
    expect(r.code, r.stderr).toBe(0);
    const cmp = await runCommand('qemu-img', ['compare', vmdk, output]);
    expect(cmp.code, cmp.stdout + cmp.stderr).toBe(0);
  });

  it('--dry-run lists every change and writes nothing', async () => {
    const before = md5(output);
    const r = await runH2k(['fix', output, '--grub', '--initramfs', '--network', 'full', '--remove-vmware-tools', '--dry-run', '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.dryRun).toBe(true);
    expect(result.os).toMatchObject({ type: 'linux', distro: 'debian', root: '/dev/sda1' });
    const files = result.changes.map((c: { file: string }) => c.file);
    expect(files).toEqual(expect.arrayContaining(['/etc/fstab', '/boot/grub/grub.cfg', '/etc/network/interfaces', '/etc/udev/rules.d/70-persistent-net.rules', '/etc/initramfs-tools/modules', '/etc/vmware-tools']));
    expect(r.stderr).toMatch(/KVM not usable, using TCG|starting libguestfs appliance/);
    expect(md5(output)).toBe(before);
  }, APPLIANCE_MS);

  it('fixes the converted output in one session, records before/after, leaves the source byte-identical', async () => {
    const r = await runH2k(['fix', output, '--grub', '--initramfs', '--network', 'full', '--remove-vmware-tools', '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.dryRun).toBe(false);
    // one appliance for all steps
    expect(r.stderr.match(/starting libguestfs appliance/g)).toHaveLength(1);
    const fstab = result.changes.find((c: { file: string }) => c.file === '/etc/fstab');
    expect(fstab.kind).toBe('fstab');
    expect(fstab.before).toContain('/dev/sda1       /');
    expect(fstab.after).toContain(`UUID=${ROOT_UUID}       /`);
    expect(result.changes.find((c: { file: string }) => c.file === '/boot/grub/device.map').after).toBeNull();
    // the guest has no update-initramfs/update-grub: said so, not pretended
    expect(result.warnings.join('\n')).toMatch(/initramfs was not regenerated/);
    expect(result.warnings.join('\n')).toMatch(/no update-grub/);
    expect(md5(vmdk)).toBe(vmdkMd5);
  }, APPLIANCE_MS);

  it('guestfish reads back every rewrite', () => {
    const { files } = readGuestFiles(output, 'qcow2', [
      '/etc/fstab', '/boot/grub/grub.cfg', '/etc/default/grub', '/boot/grub/device.map', '/etc/network/interfaces',
      '/etc/udev/rules.d/70-persistent-net.rules', '/etc/initramfs-tools/modules', '/etc/vmware-tools', '/usr/bin/vmware-toolbox-cmd',
      '/etc/init.d/vmware-tools', '/etc/systemd/system/multi-user.target.wants/vmtoolsd.service', '/sbin/init',
    ]);
    const fstab = files['/etc/fstab']!.split('\n');
    expect(fstab).toContain(`UUID=${ROOT_UUID}       /               ext4    errors=remount-ro 0       1`);
    expect(fstab).toContain(`UUID=${SWAP_UUID}       none            swap    sw              0       0`);
    expect(fstab).toContain('/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto 0       0');
    expect(fstab).toContain('# h2k: VMware shared folder, not available on KVM: .host:/         /mnt/hgfs       fuse.vmhgfs-fuse allow_other,defaults 0 0');
    expect(files['/etc/fstab']).not.toMatch(/^\/dev\/sda/m);

    const grub = files['/boot/grub/grub.cfg']!;
    expect(grub).toContain(`root=UUID=${ROOT_UUID} ro quiet resume=UUID=${SWAP_UUID} net.ifnames=0 biosdevname=0`);
    expect(grub).not.toContain('/dev/sda');
    expect(files['/etc/default/grub']).toContain(`GRUB_CMDLINE_LINUX="resume=UUID=${SWAP_UUID} net.ifnames=0 biosdevname=0"`);
    expect(files['/boot/grub/device.map']).toBeNull();

    const ifaces = files['/etc/network/interfaces']!;
    expect(ifaces).toContain('allow-hotplug eth0\niface eth0 inet static\n\taddress 192.168.10.20/24');
    expect(ifaces).not.toContain('ens192');
    expect(ifaces).toContain(`# h2k: MAC pinning removed: \thwaddress ether ${VMWARE_MAC}`);
    expect(files['/etc/udev/rules.d/70-persistent-net.rules']).toMatch(new RegExp(`^# h2k: MAC-pinned rule disabled for KVM: .*${VMWARE_MAC}`, 'm'));
    expect(files['/etc/udev/rules.d/70-persistent-net.rules']).not.toMatch(/^SUBSYSTEM/m);

    const modules = files['/etc/initramfs-tools/modules']!.split('\n');
    for (const m of ['virtio_blk', 'virtio_scsi', 'virtio_net', 'virtio_pci']) expect(modules).toContain(m);

    for (const gone of ['/etc/vmware-tools', '/usr/bin/vmware-toolbox-cmd', '/etc/init.d/vmware-tools', '/etc/systemd/system/multi-user.target.wants/vmtoolsd.service'])
      expect(files[gone], gone).toBeNull();
    expect(files['/sbin/init']).toContain(BOOT_MARKER); // untouched
  }, APPLIANCE_MS);

  it('h2k validate --boot boots the fixed guest on virtio to its init marker', async () => {
    const consoleLog = join(dir, 'report', 'boot-console.log');
    const before = md5(output);
    const r = await runH2k(['validate', '--boot', output, '--timeout', '420', '--console-log', consoleLog, '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ passed: true, consoleLog });
    expect(result.marker).toContain(BOOT_MARKER);
    expect(['kvm', 'tcg']).toContain(result.accel);
    expect(existsSync(consoleLog)).toBe(true);
    const log = readFileSync(consoleLog, 'utf8');
    expect(log).toContain(`Linux version ${hostKernel().version.split('-')[0]}`); // the guest's own kernel booted
    expect(log).toMatch(/h2k-fixture: root \/dev\/vda1 \/ ext4/); // root found by UUID on the virtio disk
    expect(log).toMatch(/h2k-fixture: net .*\beth0\b/); // net.ifnames=0: the virtio NIC is eth0, as configured
    expect(md5(output)).toBe(before); // the boot test runs on a snapshot
  }, APPLIANCE_MS);
});
