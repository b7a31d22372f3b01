// A REAL Debian 12 guest (debootstrap, systemd, initramfs-tools, grub-pc in the MBR) exported
// VMware-style: root=/dev/sda1 in fstab and grub.cfg, ens192 pinned to a VMware MAC, open-vm-tools
// installed through dpkg, and an initramfs without virtio drivers. VMDK -> h2k convert -> h2k fix,
// where update-grub, update-initramfs and dpkg --purge really run inside the guest -> read back with
// plain guestfish + lsinitramfs -> h2k validate --boot through the guest's own grub (SeaBIOS, MBR).
// The unfixed conversion must NOT reach userspace. The source VMDK stays byte-identical.
// Debian packages: debootstrap, dpkg-dev, e2fsprogs, fdisk, libguestfs-tools, qemu-utils,
// qemu-system-x86, initramfs-tools (lsinitramfs), zstd; the first run needs the Debian mirror
// (scripts/make-debian-guest.sh caches the disk under ~/.cache/h2k-fixtures).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runH2k } from './helpers/cli.js';
import { debianGuestDisk, fixtureConstant } from './helpers/debian-guest-fixture.js';

const APPLIANCE_MS = 20 * 60_000;
const BOOT_TIMEOUT_S = 900;
const md5 = (file: string) => createHash('md5').update(readFileSync(file)).digest('hex');

/** Plain guestfish (none of h2k's code) over several images; the output split at `echo @@name` lines. */
function guestfish(drives: [string, string][], script: string): Promise<Record<string, string>> {
  const args = ['--ro'];
  for (const [format, file] of drives) args.push(`--format=${format}`, '-a', file);
  const env = { ...process.env, LIBGUESTFS_BACKEND: 'direct' };
  if (process.env.H2K_GUEST_ACCEL !== 'kvm') env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg';
  return new Promise((resolve, reject) => {
    const child = execFile('guestfish', args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: APPLIANCE_MS }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`guestfish failed: ${err.message}\n${stderr}`));
      const sections: Record<string, string> = {};
      for (const part of stdout.split(/^@@/m).slice(1)) {
        const nl = part.indexOf('\n');
        sections[part.slice(0, nl)] = part.slice(nl + 1);
      }
      resolve(sections);
    });
    child.stdin!.end(script);
  });
}

function lsinitramfs(initrd: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('lsinitramfs', [initrd], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`lsinitramfs ${initrd}: ${stderr}`)) : resolve(stdout)));
}

const VIRTIO = ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net'];
const modulesIn = (listing: string) => new Set([...listing.matchAll(/\/([\w-]+)\.ko\b/g)].map((m) => m[1]!));

describe('real Debian 12 guest: VMDK -> convert -> fix in the guest -> read back -> boot through its own grub', () => {
  const vmwareMac = fixtureConstant('VMWARE_MAC');
  let dir: string;
  let vmdk: string;
  let output: string;
  let unfixed: string;
  let vmdkMd5: string;
  let kernelVersion: string;
  let rootUuid: string;

  beforeAll(async () => {
    const started = Date.now();
    const fixture = await debianGuestDisk();
    console.log(`debian guest fixture ready in ${Math.round((Date.now() - started) / 1000)} s: ${fixture.path}\n${fixture.buildLog}`);
    dir = mkdtempSync(join(tmpdir(), 'h2k-guest-debian-'));
    vmdk = join(dir, 'debian-vmware.vmdk');
    output = join(dir, 'debian-kvm.qcow2');
    unfixed = join(dir, 'debian-unfixed.qcow2');
    const made = await runCommand('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', fixture.path, vmdk], { timeout: 600_000 });
    expect(made.code, made.stderr).toBe(0);
    vmdkMd5 = md5(vmdk);
  }, 45 * 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('h2k convert turns the VMDK into a qcow2 with identical content', async () => {
    const r = await runH2k(['convert', vmdk, '-o', output], { timeout: 600_000 });
    expect(r.code, r.stderr).toBe(0);
    const cmp = await runCommand('qemu-img', ['compare', vmdk, output], { timeout: 600_000 });
    expect(cmp.code, cmp.stdout + cmp.stderr).toBe(0);
    copyFileSync(output, unfixed); // the negative boot case: converted, never fixed
  }, 15 * 60_000);

  it('h2k fix runs update-grub, update-initramfs and dpkg --purge inside the guest and lists every change', async () => {
    const r = await runH2k(['fix', output, '--grub', '--initramfs', '--network', 'full', '--remove-vmware-tools', '--json'], { timeout: APPLIANCE_MS });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.failed).toEqual([]);
    expect(result.os).toMatchObject({ type: 'linux', distro: 'debian', root: '/dev/sda1' });
    expect(result.os.version).toMatch(/^12\./); // bookworm point release, from /etc/debian_version
    const byFile = new Map<string, { before: string | null; after: string | null }[]>();
    for (const c of result.changes) byFile.set(c.file, [...(byFile.get(c.file) ?? []), c]);
    expect([...byFile.keys()]).toEqual(expect.arrayContaining([
      '/etc/fstab', '/etc/default/grub', '/boot/grub/grub.cfg', '/etc/network/interfaces', '/etc/udev/rules.d/70-persistent-net.rules',
      '/etc/initramfs-tools/modules', '/var/lib/dpkg/status',
    ]));
    const initrd = [...byFile.keys()].find((f) => f.startsWith('/boot/initrd.img-'));
    expect(initrd).toBeDefined();
    kernelVersion = initrd!.slice('/boot/initrd.img-'.length);
    expect(byFile.get(initrd!)!.at(-1)!.after).toMatch(new RegExp(`regenerated by: update-initramfs -u -k ${kernelVersion.replace(/[.+]/g, '\\$&')}`));
    expect(byFile.get('/var/lib/dpkg/status')![0]!.after).toBe('(ran: dpkg --purge open-vm-tools)');
    // grub.cfg: first h2k's in-place edit of the VMware-era file, last update-grub's full output
    expect(byFile.get('/boot/grub/grub.cfg')![0]!.before).toMatch(/root=\/dev\/sda1/);
    const grubCfg = byFile.get('/boot/grub/grub.cfg')!.at(-1)!;
    expect(grubCfg.after).toMatch(/### BEGIN \/etc\/grub.d\/10_linux ###/);
    expect(grubCfg.after).not.toMatch(/root=\/dev\/sd/);
    console.log(`h2k fix warnings: ${JSON.stringify(result.warnings)}`);
  }, APPLIANCE_MS);

  it('guestfish reads back every rewrite; lsinitramfs finds virtio in the new initramfs and not in the source', async () => {
    const local = join(dir, 'readback');
    mkdirSync(join(local, 'fixed'), { recursive: true });
    mkdirSync(join(local, 'source'), { recursive: true });
    const cat = (name: string, path: string) => `echo @@${name}\n-cat ${path}\n`;
    const out = await guestfish([['qcow2', output], ['vmdk', vmdk]], [
      'run',
      'mount-ro /dev/sda1 /',
      'echo @@uuid', 'vfs-uuid /dev/sda1',
      cat('fstab', '/etc/fstab'), cat('default-grub', '/etc/default/grub'), cat('grub.cfg', '/boot/grub/grub.cfg'),
      cat('interfaces', '/etc/network/interfaces'), cat('udev', '/etc/udev/rules.d/70-persistent-net.rules'),
      cat('modules', '/etc/initramfs-tools/modules'), cat('dpkg-status', '/var/lib/dpkg/status'),
      'echo @@wants', 'ls /etc/systemd/system/multi-user.target.wants',
      'echo @@vmtoolsd', 'exists /usr/bin/vmtoolsd',
      'echo @@vmware-conf', 'exists /etc/vmware-tools/tools.conf',
      `copy-out /boot ${join(local, 'fixed')}`,
      'umount-all',
      'mount-ro /dev/sdb1 /',
      cat('source-fstab', '/etc/fstab'),
      `copy-out /boot ${join(local, 'source')}`,
      'echo @@end',
      '',
    ].join('\n'));
    rootUuid = out.uuid!.trim();
    expect(rootUuid).toBe(fixtureConstant('ROOT_UUID'));

    // fstab: root by UUID, the VMware name gone; the source still has it
    expect(out.fstab).toMatch(new RegExp(`^UUID=${rootUuid}\\s+/\\s+ext4\\s`, 'm'));
    expect(out.fstab).not.toMatch(/^\/dev\/sda1/m);
    expect(out['source-fstab']).toMatch(/^\/dev\/sda1\s+\/\s+ext4/m);

    // grub: update-grub (not h2k's text edit) wrote root=UUID=, with net.ifnames=0 from /etc/default/grub
    expect(out['default-grub']).toMatch(/^# h2k: .*GRUB_DISABLE_LINUX_UUID=true$/m);
    expect(out['default-grub']).toMatch(/^GRUB_CMDLINE_LINUX="[^"]*net\.ifnames=0/m);
    const cfg = out['grub.cfg']!;
    expect(cfg).toMatch(/^### BEGIN \/etc\/grub.d\/10_linux ###$/m);
    const linuxLines = cfg.split('\n').filter((l) => /^\s*linux\s/.test(l));
    expect(linuxLines.length).toBeGreaterThan(0);
    for (const l of linuxLines) {
      expect(l).toContain(`root=UUID=${rootUuid}`);
      expect(l).toContain('net.ifnames=0');
    }
    expect(cfg).not.toMatch(/root=\/dev\/sd/);

    // network: ens192 -> eth0, MAC pinning commented out, udev rule disabled
    expect(out.interfaces).toMatch(/^allow-hotplug eth0$/m);
    expect(out.interfaces).toMatch(/^iface eth0 inet static$/m);
    expect(out.interfaces).not.toMatch(/ens192/);
    expect(out.interfaces).toMatch(/^# h2k: MAC pinning removed: \s*hwaddress ether/m);
    expect(out.udev).not.toMatch(/^[^#].*ATTR\{address\}/m);
    expect(out.udev).toContain(vmwareMac); // kept, commented, for the record

    // VMware tools: purged by dpkg itself (no status stanza, files and service link gone)
    expect(out['dpkg-status']).toMatch(/^Package: systemd$/m);
    expect(out['dpkg-status']).not.toMatch(/^Package: open-vm-tools$/m);
    expect(out.wants).not.toContain('open-vm-tools.service');
    expect(out.vmtoolsd!.trim()).toBe('false');
    expect(out['vmware-conf']!.trim()).toBe('false');

    // initramfs: virtio in the config and in the regenerated image, absent from the source's image
    for (const m of VIRTIO) expect(out.modules).toMatch(new RegExp(`^${m}$`, 'm'));
    const initrds = readdirSync(join(local, 'fixed', 'boot')).filter((f) => f.startsWith('initrd.img-'));
    expect(initrds).toHaveLength(1);
    const initrdName = initrds[0]!;
    kernelVersion = initrdName.slice('initrd.img-'.length);
    const fixedMods = modulesIn(await lsinitramfs(join(local, 'fixed', 'boot', initrdName)));
    const sourceMods = modulesIn(await lsinitramfs(join(local, 'source', 'boot', initrdName)));
    for (const m of VIRTIO) {
      expect(fixedMods.has(m), `${m} in the fixed initramfs`).toBe(true);
      expect(sourceMods.has(m), `${m} in the source initramfs`).toBe(false);
    }
    expect(sourceMods.has('vmw_pvscsi')).toBe(true);
    expect(fixedMods.has('ext4')).toBe(true);

    expect(md5(vmdk)).toBe(vmdkMd5); // the source was only read
  }, APPLIANCE_MS);

  it('h2k validate --boot: SeaBIOS -> the guest\'s grub -> its kernel and new initramfs -> systemd userspace on virtio', async () => {
    const consoleLog = join(dir, 'fixed-console.log');
    const before = md5(output);
    const r = await runH2k(['validate', '--boot', output, '--timeout', String(BOOT_TIMEOUT_S), '--console-log', consoleLog, '--json'], {
      timeout: (BOOT_TIMEOUT_S + 600) * 1000,
    });
    const log = readFileSync(consoleLog, 'utf8');
    expect(r.code, `${r.stdout}\n${r.stderr}\n${log.slice(-4000)}`).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ passed: true, mode: 'bootloader', reason: 'userspace reached' });
    expect(result.marker).toMatch(/login:|^Reached target .*(Multi-User System|Login Prompts)/);
    // BOOT_IMAGE= is set by grub, never by a direct kernel boot: the guest's own bootloader ran
    // (TCG's early serial output can drop characters, so any one of the two command line echoes will do)
    const cmdlines = log.split('\n').filter((l) => /ommand line: BOOT_IMAGE=\/boot\/vmlinuz-/.test(l));
    expect(cmdlines.some((l) => l.includes(`root=UUID=${rootUuid} ro`) && l.includes('net.ifnames=0')), cmdlines.join('\n')).toBe(true);
    expect(log).toMatch(/virtio_blk virtio\d+: \[vda\]/);
    expect(md5(output)).toBe(before); // the boot ran on a scratch overlay
    console.log(`fixed guest booted in ${result.seconds} s (${result.accel}): ${result.marker}`);
  }, (BOOT_TIMEOUT_S + 600) * 1000);

  it('the unfixed conversion boots its grub and kernel but never reaches userspace (no virtio_blk, root=/dev/sda1)', async () => {
    const consoleLog = join(dir, 'unfixed-console.log');
    const r = await runH2k(['validate', '--boot', unfixed, '--timeout', String(BOOT_TIMEOUT_S), '--console-log', consoleLog, '--json'], {
      timeout: (BOOT_TIMEOUT_S + 600) * 1000,
    });
    const log = readFileSync(consoleLog, 'utf8');
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ passed: false, marker: null, mode: 'bootloader' });
    // initramfs-tools gives up on /dev/sda1 after its 30 s root delay and drops to a shell
    expect(result.reason).toMatch(/Gave up waiting for root|Dropping to a shell/);
    expect(log).toMatch(/ommand line: BOOT_IMAGE=\/boot\/vmlinuz-\S+ root=\/dev\/sda1 ro/);
    expect(log).not.toMatch(/virtio_blk/);
    expect(md5(vmdk)).toBe(vmdkMd5);
    console.log(`unfixed guest failed as expected after ${result.seconds} s: ${result.reason}`);
  }, (BOOT_TIMEOUT_S + 600) * 1000);
});

// The rules the real guest exposed, pinned down without an appliance.
describe('real-guest rules (no appliance)', () => {
  it('GRUB_DISABLE_LINUX_UUID=true is commented out, other settings kept', async () => {
    const { allowLinuxUuid } = await import('../src/guest/grub.js');
    const text = 'GRUB_TIMEOUT=1\nGRUB_DISABLE_LINUX_UUID=true\nGRUB_DISABLE_LINUX_UUID="true"\nGRUB_DISABLE_RECOVERY=true\n';
    const out = allowLinuxUuid(text);
    expect(out).not.toMatch(/^GRUB_DISABLE_LINUX_UUID/m);
    expect(out.match(/^# h2k: .*GRUB_DISABLE_LINUX_UUID=/gm)).toHaveLength(2);
    expect(out).toMatch(/^GRUB_DISABLE_RECOVERY=true$/m);
    expect(allowLinuxUuid('GRUB_DISABLE_LINUX_UUID=false\n')).toBe('GRUB_DISABLE_LINUX_UUID=false\n');
  });

  it('bootloader mode needs boot code and the 0x55AA signature in the MBR', async () => {
    const { mbrHasBootCode } = await import('../src/guest/boot-test.js');
    const mbr = Buffer.alloc(512);
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    expect(mbrHasBootCode(mbr)).toBe(false); // sfdisk's table only: no code
    mbr[0] = 0xeb;
    expect(mbrHasBootCode(mbr)).toBe(true);
    mbr[511] = 0;
    expect(mbrHasBootCode(mbr)).toBe(false);
    expect(mbrHasBootCode(Buffer.alloc(100))).toBe(false);
  });

  it('the overlay grub.cfg gets the serial console on every linux line, quiet and other consoles dropped', async () => {
    const { serialConsoleGrubCfg } = await import('../src/guest/boot-test.js');
    const cfg = "menuentry 'x' {\n\tlinux\t/boot/vmlinuz-6.1 root=UUID=abc ro quiet console=tty0\n\tinitrd\t/boot/initrd.img-6.1\n}\n";
    const out = serialConsoleGrubCfg(cfg);
    expect(out).toContain('\tlinux\t/boot/vmlinuz-6.1 root=UUID=abc ro console=ttyS0,115200 panic=-1\n');
    expect(out).toContain('\tinitrd\t/boot/initrd.img-6.1\n');
  });

  it('virtio modules count as present in the initramfs listing or built into the kernel', async () => {
    const { missingVirtioModules } = await import('../src/guest/initramfs.js');
    const listing = 'usr/lib/modules/6.1/kernel/drivers/block/virtio_blk.ko\nusr/lib/modules/6.1/kernel/drivers/net/virtio_net.ko.zst\n';
    expect(missingVirtioModules(listing, 'kernel/drivers/virtio/virtio_pci.ko\n')).toEqual(['virtio_scsi']);
    expect(missingVirtioModules('', '')).toEqual(['virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net']);
  });
});
