// h2k inspect, and what h2k fix refuses: Windows guests (detected, reported, never passed silently),
// images without an OS, missing files.
// Debian packages: libguestfs-tools, qemu-utils, linux-image-amd64, busybox-static, e2fsprogs, fdisk,
// dosfstools, mtools (scripts/setup-system.sh installs them).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runH2k } from './helpers/cli.js';
import { ROOT_UUID, SWAP_UUID, hostKernel, qcow2Copy, vmwareGuestDisk, windowsLookalikeDisk } from './helpers/guest-fixtures.js';

const APPLIANCE_MS = 600_000;
const md5 = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex');

describe('h2k inspect / fix refusals', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'h2k-guest-inspect-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('inspect --json reports OS, filesystems, fstab, bootloader, kernels, network and VMware tools', async () => {
    const image = qcow2Copy(vmwareGuestDisk(), join(dir, 'guest.qcow2'));
    const before = md5(image);
    const r = await runH2k(['inspect', image, '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stderr).toBe(0);
    const i = JSON.parse(r.stdout);
    expect(i).toMatchObject({ type: 'linux', distro: 'debian', version: '12.5', hostname: 'vmware-guest', root: '/dev/sda1', fixable: true });
    expect(i.filesystems).toEqual(expect.arrayContaining([
      expect.objectContaining({ device: '/dev/sda1', type: 'ext4', uuid: ROOT_UUID, label: 'h2kroot', partuuid: '4832b001-01' }),
      expect.objectContaining({ device: '/dev/sda2', type: 'swap', uuid: SWAP_UUID }),
    ]));
    expect(i.fstab).toMatch(/^\/dev\/sda1\s+\/\s+ext4/m);
    expect(i.bootloader).toMatchObject({ kind: 'grub2', configs: ['/boot/grub/grub.cfg', '/etc/default/grub'], regenerateTool: null });
    const k = hostKernel();
    expect(i.kernels).toEqual([{ version: k.version, kernel: `/boot/vmlinuz-${k.version}`, initramfs: `/boot/initrd.img-${k.version}` }]);
    expect(i.initramfsTools).toEqual(['initramfs-tools']);
    expect(i.network).toEqual([
      { file: '/etc/network/interfaces', backend: 'ifupdown' },
      { file: '/etc/udev/rules.d/70-persistent-net.rules', backend: 'udev-persistent-net' },
    ]);
    expect(i.vmwareTools.present).toBe(true);
    expect(i.vmwareTools.files).toEqual(expect.arrayContaining(['/etc/vmware-tools', '/usr/bin/vmware-toolbox-cmd']));
    expect(md5(image)).toBe(before); // inspection is read-only
  }, APPLIANCE_MS);

  it('a Windows tree without registry hives is detected: inspect says not fixable, fix refuses with E_GUEST_WINDOWS_HIVE and writes nothing', async () => {
    const image = qcow2Copy(windowsLookalikeDisk(), join(dir, 'windows.qcow2'));
    const before = md5(image);
    const inspect = await runH2k(['inspect', image, '--json'], { timeout: APPLIANCE_MS });
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout)).toMatchObject({ type: 'windows', fixable: false, notFixableReason: expect.stringMatching(/no SYSTEM registry hive/) });

    const fix = await runH2k(['fix', image], { timeout: APPLIANCE_MS });
    expect(fix.code).not.toBe(0);
    expect(fix.stderr).toMatch(/h2k: error \[E_GUEST_WINDOWS_HIVE\]: Windows guest \(.*\) cannot be fixed/);
    expect(fix.stderr).toMatch(/hint: /);
    expect(md5(image)).toBe(before);
  }, APPLIANCE_MS * 2);

  it('an image without an OS fails with E_GUEST_NO_OS; a missing file with E_NOT_FOUND', async () => {
    const blank = join(dir, 'blank.raw');
    writeFileSync(blank, Buffer.alloc(8 * 1024 * 1024));
    const r = await runH2k(['fix', blank, '--json'], { timeout: APPLIANCE_MS });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('E_GUEST_NO_OS');

    const missing = await runH2k(['inspect', join(dir, 'nope.qcow2')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/\[E_NOT_FOUND\]/);
  }, APPLIANCE_MS);

  it('refuses to write into a source format (VMDK): fixes run on converted outputs only', async () => {
    const vmdk = join(dir, 'source.vmdk');
    const made = await runCommand('qemu-img', ['create', '-q', '-f', 'vmdk', vmdk, '16M']);
    expect(made.code, made.stderr).toBe(0);
    const before = md5(vmdk);
    const r = await runH2k(['fix', vmdk]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/\[E_UNSUPPORTED\]: refusing to fix a vmdk image in place/);
    expect(md5(vmdk)).toBe(before);
  });

  it('bad option values are usage errors before any appliance starts', async () => {
    const r = await runH2k(['fix', join(dir, 'whatever.qcow2'), '--fstab', 'everything']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_INVALID_ARGUMENT.*invalid fstab mode/);
  });
});
