// Pure rewrite rules of src/guest (fstab/crypttab, grub, initramfs configs, network backends,
// fix option normalization). No appliance: these run in milliseconds; the appliance tests in
// guest-fix.test.ts prove the same rules end to end on a real disk.
import { describe, expect, it } from 'vitest';
import { stableNameResolver } from '../src/guest/device-names.js';
import { normalizeFixOptions } from '../src/guest/fix-options.js';
import { btrfsSubvolMount, parseSubvolumeList } from '../src/guest/linux/btrfs.js';
import { rewriteCrypttab, rewriteFstab } from '../src/guest/fstab.js';
import { addKernelParams, rewriteGrubConfig } from '../src/guest/grub.js';
import { addInitramfsToolsModules, addMkinitcpioModules, regenerateCommand, staleCopiesIn } from '../src/guest/initramfs.js';
import { nicNameMap, nicNamesIn, renamedConfigFile, rewriteNetworkConfig } from '../src/guest/network.js';
import type { GuestFilesystem, GuestNetworkConfig } from '../src/guest/types.js';

const fs: GuestFilesystem[] = [
  { device: '/dev/sda1', type: 'ext4', uuid: 'aaaa-1', label: 'root', partuuid: 'p-1' },
  { device: '/dev/sda2', type: 'swap', uuid: 'bbbb-2', label: null, partuuid: 'p-2' },
  { device: '/dev/sda3', type: 'vfat', uuid: null, label: null, partuuid: 'p-3' },
  { device: '/dev/sda4', type: 'xfs', uuid: null, label: 'data', partuuid: null },
  { device: '/dev/sdb1', type: 'ext4', uuid: 'cccc-3', label: null, partuuid: null },
];
const oneDisk = stableNameResolver(fs, 1);
const twoDisks = stableNameResolver(fs, 2);

describe('fstab', () => {
  const fstab = [
    '# comment /dev/sda1 stays',
    '/dev/sda1 / ext4 errors=remount-ro 0 1',
    '/dev/sda2\tnone\tswap\tsw\t0\t0',
    '/dev/hda3 /boot/efi vfat umask=0077 0 1',
    '/dev/vda4 /data xfs defaults 0 2',
    '/dev/disk/by-path/pci-0000:03:00.0-scsi-0:0:1:0-part1 /srv ext4 defaults 0 2',
    '/dev/sr0 /media/cdrom0 udf,iso9660 user,noauto 0 0',
    '/dev/cdrom /mnt/cd iso9660 ro 0 0',
    '.host:/ /mnt/hgfs fuse.vmhgfs-fuse allow_other 0 0',
    'UUID=already /x ext4 defaults 0 2',
    '/dev/sdz9 /gone ext4 defaults 0 2',
    '',
  ].join('\n');

  it('stabilize-all renames kernel names and by-path to UUID, PARTUUID, LABEL', () => {
    const r = rewriteFstab(fstab, 'stabilize-all', twoDisks);
    const lines = r.text.split('\n');
    expect(lines[0]).toBe('# comment /dev/sda1 stays');
    expect(lines[1]).toBe('UUID=aaaa-1 / ext4 errors=remount-ro 0 1');
    expect(lines[2]).toBe('UUID=bbbb-2\tnone\tswap\tsw\t0\t0');
    expect(lines[3]).toBe('PARTUUID=p-3 /boot/efi vfat umask=0077 0 1');
    expect(lines[4]).toBe('LABEL=data /data xfs defaults 0 2');
    expect(lines[5]).toBe('UUID=cccc-3 /srv ext4 defaults 0 2'); // SCSI target 1 -> second disk
    expect(lines[6]).toBe('/dev/sr0 /media/cdrom0 udf,iso9660 user,noauto 0 0');
    expect(lines[7]).toBe('/dev/cdrom /mnt/cd iso9660 ro,nofail 0 0');
    expect(lines[8]).toBe('# h2k: VMware shared folder, not available on KVM: .host:/ /mnt/hgfs fuse.vmhgfs-fuse allow_other 0 0');
    expect(lines[9]).toBe('UUID=already /x ext4 defaults 0 2');
    expect(lines[10]).toBe('/dev/sdz9 /gone ext4 defaults 0 2');
    expect(r.warnings).toEqual([expect.stringContaining('/dev/sdz9')]);
  });

  it('bypath-only touches only /dev/disk/by-path entries (and hgfs)', () => {
    const r = rewriteFstab(fstab, 'bypath-only', oneDisk);
    const lines = r.text.split('\n');
    expect(lines[1]).toBe('/dev/sda1 / ext4 errors=remount-ro 0 1');
    expect(lines[5]).toBe('UUID=aaaa-1 /srv ext4 defaults 0 2'); // one disk: by-path is unambiguous
  });

  it('noop changes nothing', () => {
    expect(rewriteFstab(fstab, 'noop', oneDisk).text).toBe(fstab);
  });

  it('btrfs subvolume lines (SUSE): the device is renamed, subvol= and the other options kept byte for byte', () => {
    const suse = 'UUID=aaaa-1  /  btrfs  defaults  0  0\n/dev/sda1  /home  btrfs  subvol=/@/home  0  0\n/dev/sda1\t/.snapshots\tbtrfs\tsubvol=/@/.snapshots,compress=zstd\t0 0\n';
    expect(rewriteFstab(suse, 'stabilize-all', oneDisk).text).toBe(
      'UUID=aaaa-1  /  btrfs  defaults  0  0\nUUID=aaaa-1  /home  btrfs  subvol=/@/home  0  0\nUUID=aaaa-1\t/.snapshots\tbtrfs\tsubvol=/@/.snapshots,compress=zstd\t0 0\n');
  });

  it('crypttab renames the source device only', () => {
    const r = rewriteCrypttab('# c\nsda5_crypt /dev/sda1 none luks,discard\nother UUID=x none luks\n', 'stabilize-all', oneDisk);
    expect(r.text).toBe('# c\nsda5_crypt UUID=aaaa-1 none luks,discard\nother UUID=x none luks\n');
  });
});

describe('btrfs (SUSE)', () => {
  it('btrfsvol mountables are mounted by subvol= on the device libguestfs lists, whatever kernel name they carry', () => {
    expect(btrfsSubvolMount('/dev/sda2', ['/dev/sda2'])).toBeNull();
    expect(btrfsSubvolMount('btrfsvol:/dev/sda2/@/home', ['/dev/sda2'])).toEqual({ device: '/dev/sda2', subvol: '/@/home' });
    // libguestfs 1.48 with the appliance's disks enumerated the other way round; fstab's subvol=/@/var doubles the slash
    expect(btrfsSubvolMount('btrfsvol:/dev/sdb2//@/var', ['/dev/sda2'])).toEqual({ device: '/dev/sda2', subvol: '/@/var' });
    expect(btrfsSubvolMount('btrfsvol:/dev/sdc3/@/srv', ['/dev/sda2', '/dev/sda3'])).toEqual({ device: '/dev/sda3', subvol: '/@/srv' });
    expect(btrfsSubvolMount('btrfsvol:/dev/sdc3/@/srv', ['/dev/sda3', '/dev/sdb3'])).toEqual({ device: '/dev/sdc3', subvol: '/@/srv' }); // ambiguous: as named
  });

  it('the default subvolume id is named from btrfs-subvolume-list', () => {
    const list = '[0] = {\n  btrfssubvolume_id: 256\n  btrfssubvolume_top_level_id: 5\n  btrfssubvolume_path: @\n}\n[1] = {\n  btrfssubvolume_id: 258\n  btrfssubvolume_top_level_id: 257\n  btrfssubvolume_path: @/.snapshots/1/snapshot\n}\n';
    expect(parseSubvolumeList(list)).toEqual(new Map([['256', '@'], ['258', '@/.snapshots/1/snapshot']]));
  });
});

describe('grub', () => {
  it('root= and resume= become stable names; others untouched', () => {
    const cfg = "linux /vmlinuz root=/dev/sda1 ro resume=/dev/sda2 quiet\nlinux /v2 root=/dev/mapper/vg-root ro\n";
    expect(rewriteGrubConfig(cfg, oneDisk, 'grub.cfg').text).toBe(
      'linux /vmlinuz root=UUID=aaaa-1 ro resume=UUID=bbbb-2 quiet\nlinux /v2 root=/dev/mapper/vg-root ro\n',
    );
  });

  it('a btrfs root keeps rootflags=subvol= (SUSE) while root= becomes stable', () => {
    const cfg = "\tlinux\t/vmlinuz-6.1 root=/dev/sda1 ro rootflags=subvol=@/.snapshots/1/snapshot net.ifnames=0 quiet\n";
    expect(rewriteGrubConfig(cfg, oneDisk, '/boot/grub/grub.cfg').text).toBe(
      "\tlinux\t/vmlinuz-6.1 root=UUID=aaaa-1 ro rootflags=subvol=@/.snapshots/1/snapshot net.ifnames=0 quiet\n");
    expect(addKernelParams(cfg, ['net.ifnames=0', 'biosdevname=0'], '/boot/grub/grub.cfg')).toBe(
      "\tlinux\t/vmlinuz-6.1 root=/dev/sda1 ro rootflags=subvol=@/.snapshots/1/snapshot net.ifnames=0 quiet biosdevname=0\n");
  });

  it('adds kernel params to GRUB_CMDLINE_LINUX and to linux lines, once', () => {
    const d = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="resume=UUID=b"\n';
    const once = addKernelParams(d, ['net.ifnames=0'], '/etc/default/grub');
    expect(once).toBe('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="resume=UUID=b net.ifnames=0"\n');
    expect(addKernelParams(once, ['net.ifnames=0'], '/etc/default/grub')).toBe(once);
    expect(addKernelParams('X=1\n', ['a=1'], '/etc/default/grub')).toBe('X=1\nGRUB_CMDLINE_LINUX="a=1"\n');
    expect(addKernelParams('\tlinux /vmlinuz root=UUID=a ro\n', ['net.ifnames=0'], '/boot/grub/grub.cfg')).toBe('\tlinux /vmlinuz root=UUID=a ro net.ifnames=0\n');
  });
});

describe('initramfs', () => {
  it('initramfs-tools modules file gains the virtio modules once', () => {
    const once = addInitramfsToolsModules('# list\nvirtio_blk\n');
    expect(once).toBe('# list\nvirtio_blk\n# added by h2k: boot from virtio disks on KVM\nvirtio_pci\nvirtio_scsi\nvirtio_net\n');
    expect(addInitramfsToolsModules(once)).toBe(once);
  });

  it('mkinitcpio MODULES array is extended', () => {
    expect(addMkinitcpioModules('HOOKS=(base udev)\nMODULES=(ext4)\n')).toBe('HOOKS=(base udev)\nMODULES=(ext4 virtio_pci virtio_blk virtio_scsi virtio_net)\n');
  });

  it('an image holding a copy of a changed /etc file is stale; other changes leave it be', () => {
    // lsinitramfs: bare paths; the udev hook copies /etc/udev/rules.d/*.rules and /etc/systemd/network/*.link
    const lsinitramfs = 'usr/lib/udev/rules.d/70-persistent-net.rules\nusr/lib/systemd/network/10-ens192.link\ncryptroot/crypttab\nconf/modules\n';
    const changed = ['/etc/udev/rules.d/70-persistent-net.rules', '/etc/systemd/network/10-ens192.link', '/etc/crypttab', '/etc/netplan/50-cloud-init.yaml',
      '/etc/default/grub', '/boot/grub/grub.cfg'];
    expect(staleCopiesIn(lsinitramfs, changed)).toEqual(['/etc/udev/rules.d/70-persistent-net.rules', '/etc/systemd/network/10-ens192.link', '/etc/crypttab']);
    expect(staleCopiesIn(lsinitramfs, ['/etc/netplan/50-cloud-init.yaml', '/etc/cloud/cloud.cfg.d/99-disable-network-config.cfg', '/etc/default/grub'])).toEqual([]);
    // only /etc is configuration a hook copies: a kernel or grub file of the same name is not
    expect(staleCopiesIn('boot/grub.cfg\n', ['/boot/grub/grub.cfg'])).toEqual([]);
    // lsinitrd (dracut): ls -l lines, symlinks as 'name -> target'
    const lsinitrd = '-rw-r--r--   1 root root  84 Jan  1  1970 etc/crypttab\nlrwxrwxrwx   1 root root   7 Jan  1  1970 lib -> usr/lib\n';
    expect(staleCopiesIn(lsinitrd, ['/etc/crypttab', '/etc/fstab'])).toEqual(['/etc/crypttab']);
    expect(staleCopiesIn(lsinitrd, ['/etc/usr'])).toEqual([]);
  });

  it('regeneration commands per tool; unsafe versions refused', () => {
    expect(regenerateCommand('initramfs-tools', '6.1.0-18-amd64', true)).toBe('update-initramfs -u -k 6.1.0-18-amd64');
    expect(regenerateCommand('dracut', '5.14.0-362.el9.x86_64', true)).toBe('dracut -f --kver 5.14.0-362.el9.x86_64');
    expect(() => regenerateCommand('dracut', '1; rm -rf /', true)).toThrow();
  });
});

describe('network', () => {
  const cfg = (file: string, backend: GuestNetworkConfig['backend']): GuestNetworkConfig => ({ file, backend });
  const ifupdown = 'auto lo\niface lo inet loopback\n\nallow-hotplug ens192\niface ens192 inet static\n\taddress 10.0.0.5/24\n\thwaddress ether 00:50:56:01:02:03\n';

  it('maps VMware names to ethN in order of appearance', () => {
    const names = nicNameMap(nicNamesIn(cfg('/etc/network/interfaces', 'ifupdown'), ifupdown));
    expect([...names]).toEqual([['ens192', 'eth0']]);
  });

  it('ifupdown: basic drops hwaddress only; full renames and keeps the static address', () => {
    const c = cfg('/etc/network/interfaces', 'ifupdown');
    const basic = rewriteNetworkConfig(c, ifupdown, 'basic', new Map())!;
    expect(basic).toContain('allow-hotplug ens192');
    expect(basic).toContain('# h2k: MAC pinning removed: \thwaddress ether 00:50:56:01:02:03');
    const full = rewriteNetworkConfig(c, ifupdown, 'full', new Map([['ens192', 'eth0']]))!;
    expect(full).toContain('allow-hotplug eth0\niface eth0 inet static\n\taddress 10.0.0.5/24');
    expect(full).not.toContain('ens192');
    // no eth0 stanza before: a DHCP fallback is added
    const dhcp = rewriteNetworkConfig(c, 'auto lo\niface lo inet loopback\nauto ens160\niface ens160 inet manual\n', 'full', new Map([['ens33', 'eth0']]))!;
    expect(dhcp).toContain('iface eth0 inet dhcp');
  });

  it('udev persistent-net rules keyed on MAC are disabled', () => {
    const rules = '# gen\nSUBSYSTEM=="net", ATTR{address}=="00:50:56:aa:bb:cc", NAME="eth0"\n';
    expect(rewriteNetworkConfig(cfg('/etc/udev/rules.d/70-persistent-net.rules', 'udev-persistent-net'), rules, 'basic', new Map())).toBe(
      '# gen\n# h2k: MAC-pinned rule disabled for KVM: SUBSYSTEM=="net", ATTR{address}=="00:50:56:aa:bb:cc", NAME="eth0"\n',
    );
  });

  it('ifcfg-rh: HWADDR removed; full renames DEVICE', () => {
    const ifcfg = 'DEVICE=ens192\nHWADDR=00:50:56:aa:bb:cc\nBOOTPROTO=dhcp\nONBOOT=yes\n';
    const c = cfg('/etc/sysconfig/network-scripts/ifcfg-ens192', 'ifcfg-rh');
    expect(rewriteNetworkConfig(c, ifcfg, 'basic', new Map())).toBe('DEVICE=ens192\nBOOTPROTO=dhcp\nONBOOT=yes\n');
    expect(rewriteNetworkConfig(c, ifcfg, 'full', new Map([['ens192', 'eth0']]))).toBe('DEVICE=eth0\nBOOTPROTO=dhcp\nONBOOT=yes\n');
  });

  it('wicked ifcfg (SUSE): LLADDR/HWADDR pins removed; the file name is the NIC, renamed in full', () => {
    const ifcfg = "BOOTPROTO='dhcp'\nSTARTMODE='auto'\nLLADDR='00:50:56:aa:bb:cc'\nHWADDR='00:50:56:aa:bb:cc'\nZONE=''\n";
    const c = cfg('/etc/sysconfig/network/ifcfg-ens192', 'wicked');
    expect(rewriteNetworkConfig(c, ifcfg, 'basic', new Map())).toBe("BOOTPROTO='dhcp'\nSTARTMODE='auto'\nZONE=''\n");
    expect(nicNamesIn(c, ifcfg)).toEqual(['ens192']);
    expect(nicNamesIn(cfg('/etc/sysconfig/network/ifcfg-lo', 'wicked'), "STARTMODE='nfsroot'\n")).toEqual([]);
    const names = nicNameMap(nicNamesIn(c, ifcfg));
    expect(renamedConfigFile(c, names)).toBe('/etc/sysconfig/network/ifcfg-eth0');
    expect(renamedConfigFile(c, new Map())).toBeNull();
    expect(renamedConfigFile(cfg('/etc/sysconfig/network/ifcfg-eth0', 'wicked'), names)).toBeNull();
    // RHEL's ifcfg names its NIC inside the file: never moved
    expect(renamedConfigFile(cfg('/etc/sysconfig/network-scripts/ifcfg-ens192', 'ifcfg-rh'), names)).toBeNull();
  });

  it('NetworkManager keyfile: mac-address removed; full also drops interface-name', () => {
    const nm = '[connection]\nid=Wired\ntype=ethernet\ninterface-name=ens192\n\n[ethernet]\nmac-address=00:50:56:AA:BB:CC\n\n[ipv4]\nmethod=auto\n';
    const c = cfg('/etc/NetworkManager/system-connections/Wired.nmconnection', 'networkmanager');
    const basic = rewriteNetworkConfig(c, nm, 'basic', new Map())!;
    expect(basic).not.toContain('mac-address');
    expect(basic).toContain('interface-name=ens192');
    expect(rewriteNetworkConfig(c, nm, 'full', new Map())).not.toContain('interface-name');
  });

  it('systemd-networkd: MAC matches dropped, .link keyed on MAC removed, names mapped in full', () => {
    const net = '[Match]\nMACAddress=00:50:56:aa:bb:cc\nName=ens192\n\n[Network]\nDHCP=yes\n';
    const c = cfg('/etc/systemd/network/10-ens192.network', 'systemd-networkd');
    expect(rewriteNetworkConfig(c, net, 'basic', new Map())).toBe('[Match]\nName=ens192\n\n[Network]\nDHCP=yes\n');
    expect(rewriteNetworkConfig(c, net, 'full', new Map([['ens192', 'eth0']]))).toBe('[Match]\nName=eth0\n\n[Network]\nDHCP=yes\n');
    expect(rewriteNetworkConfig(cfg('/etc/systemd/network/10-lan.link', 'systemd-networkd'), '[Match]\nMACAddress=00:50:56:aa:bb:cc\n[Link]\nName=lan0\n', 'basic', new Map())).toBeNull();
  });

  it('netplan: macaddress match removed; set-name becomes a name match; full renames with DHCP', () => {
    const np = 'network:\n  version: 2\n  ethernets:\n    ens192:\n      match:\n        macaddress: "00:50:56:aa:bb:cc"\n      set-name: ens192\n';
    const c = cfg('/etc/netplan/50-cloud-init.yaml', 'netplan');
    const basic = rewriteNetworkConfig(c, np, 'basic', new Map())!;
    expect(basic).not.toContain('macaddress');
    expect(basic).not.toContain('set-name');
    expect(basic).toContain('name: ens192');
    const full = rewriteNetworkConfig(c, np, 'full', new Map([['ens192', 'eth0']]))!;
    expect(full).toContain('    eth0:');
    expect(full).toContain('name: eth0');
    expect(full).toContain('dhcp4: true');
  });

  it('netplan keeps the file\'s own indentation (cloud-init writes 4 spaces)', () => {
    const np = '# generated\nnetwork:\n    ethernets:\n        ens192:\n            dhcp4: true\n            match:\n                macaddress: 00:50:56:aa:bb:cc\n            set-name: ens192\n    version: 2\n';
    const full = rewriteNetworkConfig(cfg('/etc/netplan/50-cloud-init.yaml', 'netplan'), np, 'full', new Map([['ens192', 'eth0']]))!;
    expect(full).toBe('# generated\nnetwork:\n    ethernets:\n        eth0:\n            dhcp4: true\n            match:\n                name: eth0\n    version: 2\n');
  });

  it('none leaves everything', () => {
    expect(rewriteNetworkConfig(cfg('/etc/network/interfaces', 'ifupdown'), ifupdown, 'none', new Map())).toBe(ifupdown);
  });
});

describe('fix options', () => {
  it('accepts the CLI form and the manifest form', () => {
    expect(normalizeFixOptions({ fstab: 'bypath-only', network: 'full', grub: false })).toMatchObject({ fstab: 'bypath-only', network: 'full', grub: false, initramfs: true });
    expect(normalizeFixOptions({
      fstab: { enabled: true, mode: 'noop' }, grub: { enabled: false }, initramfs: { enabled: true, regenerate: false }, network: { enabled: false, fixLevel: 'full' },
    })).toMatchObject({ fstab: 'noop', grub: false, initramfs: true, regenerateInitramfs: false, network: 'none' });
    expect(() => normalizeFixOptions({ fstab: 'everything' as never })).toThrow(/invalid fstab mode/);
  });
});
