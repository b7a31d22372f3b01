// Every Linux family h2k fixes, proven by booting: real Debian 12 userlands laid out the way each
// family lays itself out (scripts/make-family-guest.sh, cached like the Debian guest), exported to
// VMDK, converted and fixed by h2k, read back with plain guestfish, then booted under qemu with
// virtio disk and net to the login prompt. The unfixed conversion of each must fail to boot the way
// a real one would, so the boot proves the fix. `h2k fix` time (appliance start included) and
// boot time are printed for the README.
// Debian packages: debootstrap, e2fsprogs, dosfstools, fdisk, btrfs-progs, libguestfs-tools,
// qemu-utils, qemu-system-x86, ovmf, initramfs-tools-core (lsinitramfs); the first run needs the
// Debian mirror.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runH2k } from './helpers/cli.js';
import { familyConstant, familyGuestDisk, type GuestFamily } from './helpers/debian-guest-fixture.js';
import { initramfsCompression } from '../src/guest/initramfs-listing.js';

const APPLIANCE_MS = 20 * 60_000;
const BOOT_TIMEOUT_S = 600;
const BOOT_MS = (BOOT_TIMEOUT_S + 300) * 1000;

/** Plain guestfish (none of h2k's code), read-only; the output split at `echo @@name` lines. */
function guestfish(format: string, file: string, script: string): Promise<Record<string, string>> {
  const env = { ...process.env, LIBGUESTFS_BACKEND: 'direct' };
  if (process.env.H2K_GUEST_ACCEL !== 'kvm') env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg';
  return new Promise((resolve, reject) => {
    const child = execFile('guestfish', ['--ro', `--format=${format}`, '-a', file], { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: APPLIANCE_MS },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`guestfish failed: ${err.message}\n${stderr}`));
        const sections: Record<string, string> = {};
        for (const part of stdout.split(/^@@/m).slice(1)) sections[part.slice(0, part.indexOf('\n'))] = part.slice(part.indexOf('\n') + 1);
        resolve(sections);
      });
    child.stdin!.end(`${script}\n`);
  });
}

/** One family's guest: its VMDK, the h2k conversion to fix, and an untouched copy of it. */
async function prepare(family: GuestFamily, subformat: 'streamOptimized' | 'monolithicSparse') {
  const started = Date.now();
  const fixture = await familyGuestDisk(family);
  console.log(`${family} guest fixture ready in ${Math.round((Date.now() - started) / 1000)} s: ${fixture.path}\n${fixture.buildLog}`);
  const dir = mkdtempSync(join(tmpdir(), `h2k-guest-${family}-`));
  const vmdk = join(dir, `${family}-vmware.vmdk`);
  const output = join(dir, `${family}-kvm.qcow2`);
  const unfixed = join(dir, `${family}-unfixed.qcow2`);
  const made = await runCommand('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, fixture.path, vmdk], { timeout: 600_000 });
  expect(made.code, made.stderr).toBe(0);
  const r = await runH2k(['convert', vmdk, '-o', output], { timeout: 600_000 });
  expect(r.code, r.stderr).toBe(0);
  copyFileSync(output, unfixed);
  return { dir, vmdk, output, unfixed };
}

/** The 1-minute load average, printed with each timing: on a shared machine a time means little without it. */
const load = () => `load ${loadavg()[0]!.toFixed(1)}`;

async function fixTimed(image: string, args: string[] = []) {
  const loadBefore = load();
  const started = Date.now();
  const r = await runH2k(['fix', image, ...args, '--json'], { timeout: APPLIANCE_MS });
  const seconds = (Date.now() - started) / 1000;
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const result = JSON.parse(r.stdout);
  expect(result.failed).toEqual([]);
  return { result, seconds, load: `${loadBefore} before, ${load()} after` };
}

async function boot(image: string, consoleLog: string, timeoutS = BOOT_TIMEOUT_S) {
  const r = await runH2k(['validate', '--boot', image, '--timeout', String(timeoutS), '--console-log', consoleLog, '--json'], { timeout: BOOT_MS });
  const log = readFileSync(consoleLog, 'utf8');
  return { code: r.code, result: JSON.parse(r.stdout || '{}'), log, stderr: r.stderr };
}

describe('UEFI guest: GPT + ESP, grub-efi only in EFI/debian (NVRAM stayed on ESX) -> OVMF with fresh NVRAM', () => {
  let g: Awaited<ReturnType<typeof prepare>>;
  beforeAll(async () => {
    g = await prepare('uefi', 'streamOptimized');
  }, 45 * 60_000);
  afterAll(() => {
    if (g) rmSync(g.dir, { recursive: true, force: true });
  });

  it('h2k inspect names UEFI firmware, the ESP and its only loader, and the missing fallback', async () => {
    const r = await runH2k(['inspect', g.unfixed, '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.firmware).toMatchObject({ kind: 'uefi', esp: '/dev/sda1', espMount: '/boot/efi', fallback: false, shim: false });
    expect(info.firmware.loaders).toEqual(['EFI/debian/grubx64.efi']);
  }, APPLIANCE_MS);

  it('h2k fix makes EFI/BOOT/BOOTX64.EFI from the distribution loader; guestfish finds the same bytes', async () => {
    const { result, seconds, load: fixLoad } = await fixTimed(g.output, ['--grub', '--initramfs']);
    expect(result.os).toMatchObject({ type: 'linux', distro: 'debian', firmware: 'uefi' });
    const copied = result.changes.filter((c: { kind: string }) => c.kind === 'bootloader');
    expect(copied).toEqual([{ file: '/boot/efi/EFI/BOOT/BOOTX64.EFI', before: null, after: expect.stringMatching(/^\(copied from \/boot\/efi\/EFI\/debian\/grubx64\.efi, \d+ bytes\)$/), kind: 'bootloader' }]);
    console.log(`uefi: h2k fix took ${seconds.toFixed(1)} s (${fixLoad})`);
    const out = await guestfish('qcow2', g.output, [
      'run', `mount-ro /dev/sda1 /`,
      'echo @@fallback', 'checksum sha256 /EFI/BOOT/BOOTX64.EFI',
      'echo @@distro', 'checksum sha256 /EFI/debian/grubx64.efi',
    ].join('\n'));
    expect(out.fallback!.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(out.fallback).toBe(out.distro);
  }, APPLIANCE_MS);

  it('h2k validate --boot: OVMF (fresh NVRAM) -> EFI/BOOT/BOOTX64.EFI -> grub -> kernel -> userspace on virtio', async () => {
    const b = await boot(g.output, join(g.dir, 'fixed-console.log'));
    expect(b.code, `${b.stderr}\n${b.log.slice(-4000)}`).toBe(0);
    expect(b.result).toMatchObject({ passed: true, mode: 'bootloader', firmware: 'uefi', reason: 'userspace reached' });
    expect(b.log).toMatch(new RegExp(`ommand line: BOOT_IMAGE=/boot/vmlinuz-\\S+ root=UUID=${familyConstant('ROOT_UUID')} ro`));
    expect(b.log).toMatch(/efi: EFI v/); // the kernel was started by UEFI firmware, not SeaBIOS
    expect(b.log).toMatch(/virtio_blk virtio\d+: \[vda\]/);
    console.log(`uefi: fixed guest booted in ${b.result.seconds} s (${b.result.accel}, ${load()}): ${b.result.marker}`);
  }, BOOT_MS);

  it('the unfixed conversion never leaves the firmware: OVMF finds no loader it may boot', async () => {
    const b = await boot(g.unfixed, join(g.dir, 'unfixed-console.log'));
    expect(b.code, `${b.stderr}\n${b.log.slice(-4000)}`).toBe(1);
    expect(b.result).toMatchObject({ passed: false, marker: null, firmware: 'uefi' });
    expect(b.result.reason).toMatch(/UEFI Interactive Shell|No bootable option/);
    expect(b.log).not.toMatch(/Linux version/);
    console.log(`uefi: unfixed guest failed as expected after ${b.result.seconds} s (${load()}): ${b.result.reason}`);
  }, BOOT_MS);
});

// Runs by default since its unfixed boot is cut at 150 s (dracut gives up only after ~441 s under
// TCG; the fixed guest reaches its login prompt in ~46 s): the block costs about 7 min under load.
describe('RHEL-like guest (a Debian userland laid out as RHEL, not RHEL): LVM root on XFS, /boot, dracut, BLS, NetworkManager + ifcfg, SELinux', () => {
  const mac = familyConstant('VMWARE_MAC');
  let g: Awaited<ReturnType<typeof prepare>>;
  let kver: string;
  beforeAll(async () => {
    g = await prepare('rhel', 'monolithicSparse');
  }, 45 * 60_000);
  afterAll(() => {
    if (g) rmSync(g.dir, { recursive: true, force: true });
  });

  it('h2k inspect: dracut, grub2 with BLS entries, root on LVM, BIOS, NetworkManager and ifcfg', async () => {
    const r = await runH2k(['inspect', g.unfixed, '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.root).toBe('/dev/rhel/root');
    expect(info.profile).toMatchObject({ initSystem: 'systemd', initramfsTool: 'dracut', bootloader: 'grub2-bls', firmware: 'bios', rootDevice: 'lvm' });
    expect(info.profile.networkStack).toEqual(expect.arrayContaining(['networkmanager', 'ifcfg-rh']));
    expect(info.initramfsTools).toEqual(['dracut']);
    expect(info.mountpoints).toMatchObject({ '/': '/dev/rhel/root', '/boot': '/dev/sda1' });
    const k = info.kernels.find((x: { initramfs: string | null }) => x.initramfs?.startsWith('/boot/initramfs-'));
    expect(k).toBeDefined();
    kver = k.version;
  }, APPLIANCE_MS);

  it('h2k fix: dracut drop-in + dracut -f, BLS options kept right, MAC pins gone, /.autorelabel; read back with guestfish + lsinitramfs', async () => {
    const { result, seconds, load: fixLoad } = await fixTimed(g.output, ['--grub', '--initramfs', '--network', 'full']);
    console.log(`rhel: h2k fix took ${seconds.toFixed(1)} s (${fixLoad})`);
    const files = new Set(result.changes.map((c: { file: string }) => c.file));
    const entry = `/boot/loader/entries/${familyConstant('MACHINE_ID', 'rhel')}-${kver}.conf`;
    for (const f of ['/etc/dracut.conf.d/90-h2k-virtio.conf', `/boot/initramfs-${kver}.img`, entry, '/etc/default/grub', '/etc/kernel/cmdline', '/boot/grub/grub.cfg',
      '/etc/NetworkManager/system-connections/ens192.nmconnection', '/etc/sysconfig/network-scripts/ifcfg-ens192', '/.autorelabel']) expect(files, f).toContain(f);
    const regen = result.changes.find((c: { file: string }) => c.file === `/boot/initramfs-${kver}.img`);
    // the guest's dracut gzips (its image is gzip): dracut runs uncompressed in the appliance, the host compresses
    expect(regen.after).toContain(`regenerated by: dracut -f --no-compress, gzip -9 on the host (as: dracut -f /boot/initramfs-${kver}.img ${kver})`);

    const local = join(g.dir, 'readback');
    const out = await guestfish('qcow2', g.output, [
      'run', 'mount-ro /dev/rhel/root /', 'mount-ro /dev/sda1 /boot',
      'echo @@entry', `cat ${entry}`, 'echo @@cmdline', 'cat /etc/kernel/cmdline', 'echo @@grubcfg', 'cat /boot/grub/grub.cfg',
      'echo @@nm', 'cat /etc/NetworkManager/system-connections/ens192.nmconnection',
      'echo @@ifcfg', 'cat /etc/sysconfig/network-scripts/ifcfg-ens192',
      'echo @@relabel', 'is-file /.autorelabel', `! mkdir -p ${local}`, `copy-out /boot/initramfs-${kver}.img ${local}`, 'echo @@end',
    ].join('\n'));
    expect(out.entry).toMatch(/^options root=\/dev\/mapper\/rhel-root ro rd\.lvm\.lv=rhel\/root .*net\.ifnames=0/m);
    // the command line kernel-install gives a later kernel's entry: the same parameters
    expect(out.cmdline!.trim()).toBe('root=/dev/mapper/rhel-root ro rd.lvm.lv=rhel/root crashkernel=1G-4G:192M net.ifnames=0 biosdevname=0');
    for (const l of out.grubcfg!.split('\n').filter((x) => /^\s*linux\s/.test(x))) expect(l).toMatch(/root=\/dev\/mapper\/rhel-root .*rd\.lvm\.lv=rhel\/root.*net\.ifnames=0/);
    expect(out.nm).not.toMatch(/mac-address|interface-name/);
    expect(out.nm).toMatch(/^method=auto$/m);
    expect(out.ifcfg).not.toContain(mac);
    expect(out.ifcfg).toMatch(/^DEVICE=eth0$/m);
    expect(out.relabel!.trim()).toBe('true');
    const listing = await runCommand('lsinitramfs', [join(local, `initramfs-${kver}.img`)], { timeout: 300_000 });
    expect(initramfsCompression(readFileSync(join(local, `initramfs-${kver}.img`)))).toBe('gzip'); // as the guest's dracut leaves it
    expect(listing.code, listing.stderr).toBe(0);
    for (const m of ['virtio_blk', 'virtio_net', 'xfs', 'dm-mod']) expect(listing.stdout, m).toMatch(new RegExp(`/${m}\\.ko`));
  }, APPLIANCE_MS);

  it('h2k validate --boot: grub -> kernel -> dracut activates rhel/root over virtio_blk -> XFS -> NetworkManager up on virtio_net -> login', async () => {
    const b = await boot(g.output, join(g.dir, 'fixed-console.log'));
    expect(b.code, `${b.stderr}\n${b.log.slice(-4000)}`).toBe(0);
    expect(b.result).toMatchObject({ passed: true, mode: 'bootloader', firmware: 'bios' });
    expect(b.log).toMatch(/ommand line: BOOT_IMAGE=\/vmlinuz-\S+ root=\/dev\/mapper\/rhel-root ro rd\.lvm\.lv=rhel\/root/);
    expect(b.log).toMatch(/virtio_blk virtio\d+: \[vda\]/);
    expect(b.log).toMatch(/XFS \(dm-0\): Mounting/);
    // the fixture's unit: NetworkManager took the keyfile h2k left (MAC and interface-name pins
    // gone) for eth0 and got qemu's DHCP address; with the pins it would match no NIC
    expect(b.log).toMatch(/h2k-net 10\.0\.2\.\d+/);
    console.log(`rhel: fixed guest booted in ${b.result.seconds} s (${b.result.accel}, ${load()}): ${b.result.marker}`);
  }, BOOT_MS);

  it('the unfixed conversion boots its kernel but dracut never finds rhel/root (no virtio_blk in the initramfs)', async () => {
    // 150 s: three times what the fixed guest needs to reach userspace (dracut itself gives up after ~441 s)
    const b = await boot(g.unfixed, join(g.dir, 'unfixed-console.log'), 150);
    expect(b.code, `${b.stderr}\n${b.log.slice(-4000)}`).toBe(1);
    expect(b.result).toMatchObject({ passed: false, marker: null, firmware: 'bios' });
    expect(b.log).toMatch(/Linux version/);
    expect(b.log).not.toMatch(/virtio_blk/);
    console.log(`rhel: unfixed guest failed as expected after ${b.result.seconds} s (${load()}): ${b.result.reason}`);
  }, BOOT_MS);
});

// The unfixed boot is cut at three times the fixed guest's time to its login prompt, as the
// RHEL-like block does: dracut would wait minutes more for a root device that never appears.
describe('SUSE-like guest (a Debian userland laid out as SLES, not SUSE): btrfs root in @/.snapshots/1/snapshot with subvolumes, ext4 /boot, dracut, wicked ifcfg', () => {
  const mac = familyConstant('VMWARE_MAC');
  const rootUuid = familyConstant('ROOT_UUID');
  const subvol = familyConstant('ROOT_SUBVOL', 'suse');
  let g: Awaited<ReturnType<typeof prepare>>;
  let kver: string;
  let fstabBefore: string;
  let fixedSeconds = 0;
  beforeAll(async () => {
    g = await prepare('suse', 'streamOptimized');
  }, 45 * 60_000);
  afterAll(() => {
    if (g) rmSync(g.dir, { recursive: true, force: true });
  });

  it('h2k inspect: family suse (SLES 15.5), dracut, grub2, BIOS, root in a btrfs subvolume, wicked', async () => {
    const r = await runH2k(['inspect', g.unfixed, '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ type: 'linux', distro: 'sles', version: '15.5' });
    // libguestfs names the partition (it mounts the default subvolume); h2k names the subvolume
    expect(info.root).toBe('/dev/sda2');
    expect(info.profile).toMatchObject({ family: 'suse', initSystem: 'systemd', initramfsTool: 'dracut', bootloader: 'grub2', firmware: 'bios', rootDevice: 'btrfs-subvolume', rootSubvolume: subvol });
    expect(info.profile.networkStack).toEqual(['wicked']);
    expect(info.initramfsTools).toEqual(['dracut']);
    expect(info.mountpoints).toMatchObject({ '/boot': '/dev/sda1', '/home': 'btrfsvol:/dev/sda2/@/home', '/var': 'btrfsvol:/dev/sda2/@/var' });
    expect(info.network.map((n: { file: string }) => n.file)).toEqual(expect.arrayContaining(['/etc/sysconfig/network/ifcfg-eth0', '/etc/udev/rules.d/70-persistent-net.rules']));
    const k = info.kernels.find((x: { initramfs: string | null }) => x.initramfs?.startsWith('/boot/initrd-'));
    expect(k).toBeDefined();
    kver = k.version;
    fstabBefore = info.fstab;
    expect(fstabBefore).toMatch(/subvol=\/@\/home/);
  }, APPLIANCE_MS);

  it('h2k fix: dracut drop-in + dracut -f into /boot/initrd-<kver>, LLADDR and the udev MAC pin gone, subvolumes and rootflags kept; read back with guestfish + lsinitramfs', async () => {
    const { result, seconds } = await fixTimed(g.output, ['--grub', '--initramfs', '--network', 'full']);
    console.log(`suse: h2k fix took ${seconds.toFixed(1)} s (${load()})`);
    expect(result.os).toMatchObject({ type: 'linux', distro: 'sles', root: '/dev/sda2' });
    const files = new Set(result.changes.map((c: { file: string }) => c.file));
    for (const f of ['/etc/dracut.conf.d/90-h2k-virtio.conf', `/boot/initrd-${kver}`, '/etc/sysconfig/network/ifcfg-eth0', '/etc/udev/rules.d/70-persistent-net.rules'])
      expect(files, f).toContain(f);
    expect(files).not.toContain('/etc/fstab'); // UUID= lines with subvol= options: nothing to change
    const regen = result.changes.find((c: { file: string }) => c.file === `/boot/initrd-${kver}`);
    expect(regen.after).toContain(`regenerated by: dracut -f --no-compress, gzip -9 on the host (as: dracut -f /boot/initrd-${kver} ${kver})`);

    const local = join(g.dir, 'readback');
    // plain guestfish mounts the default subvolume (the root snapshot) and the subvolumes by name
    const out = await guestfish('qcow2', g.output, [
      'run', 'mount-ro /dev/sda2 /', 'mount-ro /dev/sda1 /boot', 'mount-options ro,subvol=/@/var /dev/sda2 /var',
      'echo @@default', 'btrfs-subvolume-get-default /', 'echo @@subvols', 'btrfs-subvolume-list /',
      'echo @@fstab', 'cat /etc/fstab', 'echo @@grubcfg', 'cat /boot/grub/grub.cfg',
      'echo @@ifcfg', 'cat /etc/sysconfig/network/ifcfg-eth0', 'echo @@udev', 'cat /etc/udev/rules.d/70-persistent-net.rules',
      'echo @@dropin', 'cat /etc/dracut.conf.d/90-h2k-virtio.conf', 'echo @@var', 'is-dir /var/lib/dpkg',
      `! mkdir -p ${local}`, `copy-out /boot/initrd-${kver} ${local}`, 'echo @@end',
    ].join('\n'));
    expect(out.default!.trim()).toBe('258');
    for (const v of ['@', '@/.snapshots', subvol, '@/home', '@/srv', '@/var']) expect(out.subvols).toMatch(new RegExp(`: ${v.replace(/[.]/g, '\\.')}$`, 'm'));
    expect(out.fstab!.trimEnd()).toBe(fstabBefore.trimEnd()); // guestfish's cat ends with a newline of its own
    const linux = out.grubcfg!.split('\n').filter((x) => /^\s*linux\s/.test(x));
    expect(linux.length).toBeGreaterThan(0);
    for (const l of linux) expect(l).toMatch(new RegExp(`root=UUID=${rootUuid} ro rootflags=subvol=${subvol.replace(/[.]/g, '\\.')} `));
    expect(out.ifcfg!.trimEnd()).toBe("BOOTPROTO='dhcp'\nSTARTMODE='auto'\nZONE=''");
    expect(out.udev).toMatch(new RegExp(`^# h2k: MAC-pinned rule disabled for KVM: .*${mac}`, 'm'));
    expect(out.dropin).toMatch(/add_drivers\+=" virtio_pci virtio_blk virtio_scsi virtio_net "/);
    expect(out.var!.trim()).toBe('true');
    const listing = await runCommand('lsinitramfs', [join(local, `initrd-${kver}`)], { timeout: 300_000 });
    expect(initramfsCompression(readFileSync(join(local, `initrd-${kver}`)))).toBe('gzip'); // as the guest's dracut leaves it
    expect(listing.code, listing.stderr).toBe(0);
    for (const m of ['virtio_blk', 'virtio_net', 'virtio_pci', 'btrfs']) expect(listing.stdout, m).toMatch(new RegExp(`/${m}\\.ko`));
  }, APPLIANCE_MS);

  it('h2k validate --boot: grub -> kernel -> dracut mounts the root subvolume over virtio_blk -> subvolumes from fstab -> wicked-style eth0 by DHCP with its own MAC', async () => {
    const b = await boot(g.output, join(g.dir, 'fixed-console.log'));
    expect(b.code, `${b.stderr}\n${b.log.slice(-4000)}`).toBe(0);
    expect(b.result).toMatchObject({ passed: true, mode: 'bootloader', firmware: 'bios' });
    expect(b.log).toMatch(new RegExp(`ommand line: BOOT_IMAGE=/vmlinuz-\\S+ root=UUID=${rootUuid} ro rootflags=subvol=${subvol.replace(/[.]/g, '\\.')} `));
    expect(b.log).toMatch(/virtio_blk virtio\d+: \[vda\]/);
    expect(b.log).toMatch(/BTRFS.* \(device vda2\)/);
    for (const m of ['snapshots', 'home', 'srv', 'var']) expect(b.log, m).toMatch(new RegExp(`Mounted \\S*${m}\\.mount`)); // fstab's subvol= lines
    // the fixture's wicked stand-in: eth0 came up by DHCP with qemu's MAC, not the VMware one
    expect(b.log).toMatch(/h2k-net eth0 52:54:00:[0-9a-f:]+ 10\.0\.2\.\d+\/24/);
    expect(b.log).not.toContain(`h2k-net eth0 ${mac}`);
    fixedSeconds = b.result.seconds;
    console.log(`suse: fixed guest booted in ${b.result.seconds} s (${b.result.accel}, ${load()}): ${b.result.marker}`);
  }, BOOT_MS);

  it('the unfixed conversion boots its kernel but dracut never finds the btrfs root (no virtio_blk in the initramfs)', async () => {
    const cut = Math.max(120, Math.round(3 * (fixedSeconds || 60)));
    const b = await boot(g.unfixed, join(g.dir, 'unfixed-console.log'), cut);
    expect(b.code, `${b.stderr}\n${b.log.slice(-4000)}`).toBe(1);
    expect(b.result).toMatchObject({ passed: false, marker: null, firmware: 'bios' });
    expect(b.log).toMatch(/Linux version/);
    expect(b.log).not.toMatch(/virtio_blk/);
    expect(b.log).not.toMatch(/BTRFS.*device/);
    expect(b.log).toMatch(/dracut initqueue hook/); // dracut is waiting for a root disk it has no driver for
    console.log(`suse: unfixed guest failed as expected after ${b.result.seconds} s (cut at ${cut} s, ${load()}): ${b.result.reason}`);
  }, BOOT_MS);
});

// Runs by default since h2k fix keeps its initramfs (virtio already in it: MODULES=most) instead of
// rebuilding it for ~8 min under TCG: the block costs about 4.5 min under a load of 2.5-5.
describe('Ubuntu-like guest (a Debian userland laid out as Ubuntu, not Ubuntu): netplan match macaddress + set-name, cloud-init config', () => {
  const mac = familyConstant('VMWARE_MAC');
  let g: Awaited<ReturnType<typeof prepare>>;
  beforeAll(async () => {
    g = await prepare('ubuntu', 'streamOptimized');
  }, 45 * 60_000);
  afterAll(() => {
    if (g) rmSync(g.dir, { recursive: true, force: true });
  });

  it('h2k fix: netplan matched by name (eth0) instead of the VMware MAC, cloud-init kept from regenerating it; the initramfs (virtio in it) kept', async () => {
    const { result, seconds, load: fixLoad } = await fixTimed(g.output, ['--grub', '--initramfs', '--network', 'full']);
    console.log(`ubuntu: h2k fix took ${seconds.toFixed(1)} s (${fixLoad})`);
    const files = result.changes.map((c: { file: string }) => c.file);
    expect(files).toEqual(expect.arrayContaining(['/etc/netplan/50-cloud-init.yaml', '/etc/cloud/cloud.cfg.d/99-disable-network-config.cfg', '/etc/default/grub',
      '/etc/initramfs-tools/modules']));
    // MODULES=most already put virtio in it and no file it copies changed: not rebuilt (minutes under TCG)
    expect(files.filter((f: string) => f.startsWith('/boot/initrd.img-'))).toEqual([]);
    expect(result.warnings.join('\n')).toMatch(/initrd\.img-\S+ already has the virtio drivers .*not regenerated/);
    const local = join(g.dir, 'readback');
    const out = await guestfish('qcow2', g.output, [
      'run', 'mount-ro /dev/sda1 /', 'echo @@netplan', 'cat /etc/netplan/50-cloud-init.yaml',
      'echo @@cloud', 'cat /etc/cloud/cloud.cfg.d/99-disable-network-config.cfg',
      `! mkdir -p ${local}`, `glob copy-out /boot/initrd.img-* ${local}`, 'echo @@end',
    ].join('\n'));
    const initrds = readdirSync(local);
    expect(initrds).toHaveLength(1);
    const listing = await runCommand('lsinitramfs', [join(local, initrds[0]!)], { timeout: 300_000 });
    expect(listing.code, listing.stderr).toBe(0);
    for (const m of ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net']) expect(listing.stdout, m).toMatch(new RegExp(`/${m}\\.ko`));
    expect(out.netplan).not.toContain(mac);
    expect(out.netplan).not.toMatch(/set-name|ens192/);
    expect(out.netplan).toMatch(/^ {8}eth0:$/m);
    expect(out.netplan).toMatch(/^ {16}name: eth0$/m);
    expect(out.cloud).toMatch(/^network: \{config: disabled\}$/m);
  }, APPLIANCE_MS);

  it('h2k validate --boot: netplan brings eth0 up by DHCP before the login prompt', async () => {
    const b = await boot(g.output, join(g.dir, 'fixed-console.log'));
    expect(b.code, `${b.stderr}\n${b.log.slice(-4000)}`).toBe(0);
    expect(b.result).toMatchObject({ passed: true, mode: 'bootloader' });
    expect(b.log).toMatch(/net\.ifnames=0/);
    expect(b.log).toMatch(/h2k-net 10\.0\.2\.\d+/); // the fixture's unit: the address qemu's DHCP gave eth0
    console.log(`ubuntu: fixed guest booted in ${b.result.seconds} s (${b.result.accel}, ${load()}): ${b.result.marker}`);
  }, BOOT_MS);

  it('the unfixed conversion reaches the login prompt with its NIC down: netplan matched the VMware MAC', async () => {
    const b = await boot(g.unfixed, join(g.dir, 'unfixed-console.log'));
    expect(b.result).toMatchObject({ passed: true });
    expect(b.log).toMatch(/h2k-net/);
    expect(b.log).not.toMatch(/h2k-net 10\.0\.2\./);
    console.log(`ubuntu: unfixed guest reached login without network after ${b.result.seconds} s (${load()})`);
  }, BOOT_MS);
});

// The family rules the boots exposed, pinned down without an appliance.
describe('family rules (no appliance)', () => {
  it('BootLoaderSpec entries get kernel parameters on their options line, once', async () => {
    const { addKernelParams } = await import('../src/guest/grub.js');
    const entry = 'title x\nlinux /vmlinuz-5.14\ninitrd /initramfs-5.14.img\noptions root=/dev/mapper/rhel-root ro rd.lvm.lv=rhel/root\n';
    const file = '/boot/loader/entries/abc-5.14.conf';
    const once = addKernelParams(entry, ['net.ifnames=0'], file);
    expect(once).toContain('options root=/dev/mapper/rhel-root ro rd.lvm.lv=rhel/root net.ifnames=0\n');
    expect(once).toContain('linux /vmlinuz-5.14\n');
    expect(addKernelParams(once, ['net.ifnames=0'], file)).toBe(once);
  });

  it("RHEL 8's grubenv kernelopts and RHEL 9's /etc/kernel/cmdline get them too; grubenv keeps its 1024-byte block", async () => {
    const { addKernelParams, refillGrubenv, rewriteGrubConfig, GRUBENV_BLOCK } = await import('../src/guest/grub.js');
    const vars = '# GRUB Environment Block\nsaved_entry=abc-4.18\nkernelopts=root=/dev/sda2 ro resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root\nboot_success=0\n';
    const grubenv = vars + '#'.repeat(GRUBENV_BLOCK - vars.length);
    const resolve = (dev: string) => (dev === '/dev/sda2' ? 'UUID=1111' : null);
    const edited = addKernelParams(rewriteGrubConfig(grubenv, resolve, '/boot/grub2/grubenv').text, ['net.ifnames=0'], '/boot/grub2/grubenv');
    const refilled = refillGrubenv(edited, GRUBENV_BLOCK)!;
    expect(refilled).toHaveLength(GRUBENV_BLOCK);
    expect(refilled).toContain('\nkernelopts=root=UUID=1111 ro resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root net.ifnames=0\nboot_success=0\n###');
    expect(refilled).toContain('saved_entry=abc-4.18\n');
    expect(refillGrubenv(`${vars}kernelopts=${'x'.repeat(GRUBENV_BLOCK)}\n`, GRUBENV_BLOCK)).toBeNull(); // GRUB could not read it
    expect(addKernelParams('root=/dev/mapper/rhel-root ro\n', ['net.ifnames=0'], '/etc/kernel/cmdline')).toBe('root=/dev/mapper/rhel-root ro net.ifnames=0\n');
    expect(addKernelParams('root=UUID=a ro net.ifnames=0\n', ['net.ifnames=0'], '/etc/kernel/cmdline')).toBe('root=UUID=a ro net.ifnames=0\n');
  });

  it('/etc/default/grub: the last GRUB_CMDLINE_LINUX assignment gets the parameters (the shell keeps the last)', async () => {
    const { addKernelParams } = await import('../src/guest/grub.js');
    const text = 'GRUB_CMDLINE_LINUX=""\nGRUB_DISABLE_RECOVERY=true\nGRUB_CMDLINE_LINUX="rd.lvm.lv=rhel/root"\n';
    expect(addKernelParams(text, ['net.ifnames=0'], '/etc/default/grub')).toBe('GRUB_CMDLINE_LINUX=""\nGRUB_DISABLE_RECOVERY=true\nGRUB_CMDLINE_LINUX="rd.lvm.lv=rhel/root net.ifnames=0"\n');
  });

  it('dracut rebuilds the image the guest boots, named explicitly', async () => {
    const { regenerateCommand } = await import('../src/guest/initramfs.js');
    expect(regenerateCommand('dracut', '6.1.0-50-amd64', true, '/boot/initramfs-6.1.0-50-amd64.img')).toBe('dracut -f /boot/initramfs-6.1.0-50-amd64.img 6.1.0-50-amd64');
    expect(() => regenerateCommand('dracut', '6.1', true, '/boot/x;reboot')).toThrow();
  });

  it('the daemon\'s domain XML gets EFI firmware when the fix found a UEFI guest, whatever vm_uefi says', async () => {
    const { domainVm } = await import('../src/daemon/domain-vm.js');
    const { daemonConfigSchema } = await import('../src/config/daemon-schema.js');
    const cfg = { ...daemonConfigSchema.parse({ watch_dir: '/w', output_dir: '/o', emit_domain_xml: true }), keys_set: ['emit_domain_xml'] };
    expect(domainVm(cfg, 'vm', undefined)!.vm.firmware).toBe('bios');
    expect(domainVm(cfg, 'vm', undefined, 'bios')!.vm.firmware).toBe('bios');
    const uefi = domainVm(cfg, 'vm', undefined, 'uefi')!;
    expect(uefi.vm.firmware).toBe('efi');
    expect(uefi.warnings.join('\n')).toMatch(/boots by UEFI/);
    expect(domainVm({ ...cfg, emit_domain_xml: false }, 'vm', undefined, 'uefi')).toBeUndefined();
  });

  it('cloud-init counts as kept off the network by either spelling of network: config: disabled', async () => {
    const { networkConfigDisabled } = await import('../src/guest/linux/cloud-init.js');
    expect(networkConfigDisabled(['network: {config: disabled}\n'])).toBe(true);
    expect(networkConfigDisabled(['users: []\n', 'network:\n  config: disabled\n'])).toBe(true);
    expect(networkConfigDisabled(['# network: {config: disabled}\n', 'network:\n  version: 2\n'])).toBe(false);
  });

  it('an autorelabel is due for enforcing and permissive SELinux only', async () => {
    const { selinuxActive } = await import('../src/guest/linux/selinux.js');
    expect(selinuxActive('SELINUX=enforcing\nSELINUXTYPE=targeted\n')).toBe(true);
    expect(selinuxActive('# SELINUX=enforcing\nSELINUX=permissive\n')).toBe(true);
    expect(selinuxActive('SELINUX=disabled\n')).toBe(false);
    expect(selinuxActive(null)).toBe(false);
  });
});
