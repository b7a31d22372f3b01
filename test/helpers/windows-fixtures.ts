// Phony Windows guests for the Windows fix tests, built at test time the way libguestfs builds its
// own: registry hives made with hivexregedit --merge on hivex's minimal hive (test/data/windows/
// minimal-hive, from the hivex sources: images/minimal), an NTFS disk made and filled by guestfish.
// Every variant is built in one appliance run and cached like the Linux fixture.
// Debian packages: libguestfs-tools, libhivex-bin, ntfs-3g, qemu-utils, xorriso, fdisk (sfdisk).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURE_CACHE, peStub } from './guest-fixtures.js';

const MINIMAL_HIVE = join(dirname(fileURLToPath(import.meta.url)), '../data/windows/minimal-hive');
const RECIPE = 'h2k-windows-fixtures-v2';

export type WindowsVariant = 'win7' | 'win2019' | 'win10-hibernated' | 'win2019-corrupt-hive' | 'win2019-no-control-set';
export const VARIANTS: WindowsVariant[] = ['win7', 'win2019', 'win10-hibernated', 'win2019-corrupt-hive', 'win2019-no-control-set'];
export const VMWARE_TOOLS_GUID = '{4D9A8C2B-3E5F-4A61-9B1C-0D2E3F4A5B6C}';
/** The static adapter: two addresses, a gateway and two DNS servers; a second adapter uses DHCP. */
export const STATIC_IP = { address: '192.168.10.30', mask: '255.255.255.0', address2: '10.20.0.5', mask2: '255.255.0.0', gateway: '192.168.10.1', dns: ['192.168.10.2', '192.168.10.3'] };
export const IFACE_GUID = '{7A3C1E55-2B4D-4F60-8E9A-1C2D3E4F5A6B}';
const DHCP_IFACE_GUID = '{0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0}';

/** REG_MULTI_SZ in .reg hex(7) form, written here by hand (not with h2k's encoder). */
function multiSz(...strings: string[]): string {
  const bytes = Buffer.from(strings.map((s) => `${s}\0`).join('') + '\0', 'utf16le');
  return `hex(7):${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join(',')}`;
}

interface Spec { product: string; version: string; build: string; edition: string; installType: string; major?: number; minor?: number;
  controlSets: number[]; current: number; hiberboot?: number; vmware: string[]; cdd: boolean }

const SPECS: Record<'win7' | 'win2019' | 'win10', Spec> = {
  win7: { product: 'Windows 7 Professional', version: '6.1', build: '7601', edition: 'Professional', installType: 'Client',
    controlSets: [1, 2], current: 1, vmware: ['pvscsi', 'vmxnet3ndis6', 'vmci', 'vmmouse'], cdd: true },
  win2019: { product: 'Windows Server 2019 Standard', version: '6.3', build: '17763', edition: 'ServerStandard', installType: 'Server', major: 10, minor: 0,
    controlSets: [1], current: 1, hiberboot: 0, vmware: ['pvscsi', 'vmxnet3ndis6', 'vmci', 'vm3dmp', 'vmmouse'], cdd: false },
  win10: { product: 'Windows 10 Pro', version: '6.3', build: '19045', edition: 'Professional', installType: 'Client', major: 10, minor: 0,
    controlSets: [1], current: 1, hiberboot: 1, vmware: ['pvscsi', 'vmxnet3ndis6', 'vmci', 'vm3dmp', 'vmmouse'], cdd: false },
};

function softwareReg(s: Spec): string {
  const cv = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion';
  const un = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
  return [
    'Windows Registry Editor Version 5.00', '',
    '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft]', '', '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows NT]', '',
    `[${cv}]`, `"ProductName"="${s.product}"`, `"CurrentVersion"="${s.version}"`, `"CurrentBuildNumber"="${s.build}"`, `"CurrentBuild"="${s.build}"`,
    `"EditionID"="${s.edition}"`, `"InstallationType"="${s.installType}"`, '"SystemRoot"="C:\\\\Windows"', '"PathName"="C:\\\\Windows"',
    ...(s.major === undefined ? [] : [`"CurrentMajorVersionNumber"=dword:${s.major.toString(16).padStart(8, '0')}`, `"CurrentMinorVersionNumber"=dword:${s.minor!.toString(16).padStart(8, '0')}`]), '',
    '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows]', '', '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion]', '',
    `[${un}]`, '', `[${un}\\${VMWARE_TOOLS_GUID}]`, '"DisplayName"="VMware Tools"', '"DisplayVersion"="11.3.5.18557794"', '"Publisher"="VMware, Inc."',
    `"UninstallString"="MsiExec.exe /X${VMWARE_TOOLS_GUID}"`, '',
    '[HKEY_LOCAL_MACHINE\\SOFTWARE\\VMware, Inc.]', '', '[HKEY_LOCAL_MACHINE\\SOFTWARE\\VMware, Inc.\\VMware Tools]', '"InstallPath"="C:\\\\Program Files\\\\VMware\\\\VMware Tools\\\\"', '',
  ].join('\n');
}

const VMWARE_SERVICES: Record<string, { type: number; start: number; group: string; image: string }> = {
  pvscsi: { type: 1, start: 0, group: 'SCSI miniport', image: 'system32\\\\DRIVERS\\\\pvscsi.sys' },
  vmxnet3ndis6: { type: 1, start: 3, group: 'NDIS', image: 'system32\\\\DRIVERS\\\\vmxnet3n61x64.sys' },
  vmci: { type: 1, start: 0, group: 'System Bus Extender', image: 'system32\\\\DRIVERS\\\\vmci.sys' },
  vmmouse: { type: 1, start: 3, group: 'Pointer Port', image: 'system32\\\\DRIVERS\\\\vmmouse.sys' },
  vm3dmp: { type: 1, start: 3, group: 'Video', image: 'system32\\\\DRIVERS\\\\vm3dmp.sys' },
};

function systemReg(s: Spec, hostname: string): string {
  const out = ['Windows Registry Editor Version 5.00', '', '[HKEY_LOCAL_MACHINE\\SYSTEM\\Select]',
    `"Current"=dword:${s.current.toString(16).padStart(8, '0')}`, `"Default"=dword:${s.current.toString(16).padStart(8, '0')}`,
    `"LastKnownGood"=dword:${(s.controlSets.at(-1)!).toString(16).padStart(8, '0')}`, '"Failed"=dword:00000000', '',
    '[HKEY_LOCAL_MACHINE\\SYSTEM\\MountedDevices]', '', '[HKEY_LOCAL_MACHINE\\SYSTEM\\Setup]', '"CmdLine"=""', '"SetupType"=dword:00000000', ''];
  if (!s.cdd) out.push('[HKEY_LOCAL_MACHINE\\SYSTEM\\DriverDatabase]', '', '[HKEY_LOCAL_MACHINE\\SYSTEM\\DriverDatabase\\DriverPackages]', '',
    '[HKEY_LOCAL_MACHINE\\SYSTEM\\DriverDatabase\\DriverInfFiles]', '', '[HKEY_LOCAL_MACHINE\\SYSTEM\\DriverDatabase\\DeviceIds]', '');
  for (const n of s.controlSets) {
    const cs = `HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet00${n}`;
    out.push(`[${cs}]`, '', `[${cs}\\Control]`, '', `[${cs}\\Control\\ComputerName]`, '', `[${cs}\\Control\\ComputerName\\ComputerName]`, `"ComputerName"="${hostname.toUpperCase()}"`, '',
      `[${cs}\\Control\\Session Manager]`, '', `[${cs}\\Control\\Session Manager\\Power]`, ...(s.hiberboot === undefined ? [] : [`"HiberbootEnabled"=dword:0000000${s.hiberboot}`]), '',
      `[${cs}\\Services]`, '', `[${cs}\\Services\\Tcpip]`, '', `[${cs}\\Services\\Tcpip\\Parameters]`, `"Hostname"="${hostname}"`, '',
      `[${cs}\\Services\\Tcpip\\Parameters\\Interfaces]`, '', `[${cs}\\Services\\Tcpip\\Parameters\\Interfaces\\${IFACE_GUID}]`, '"EnableDHCP"=dword:00000000',
      `"IPAddress"=${multiSz(STATIC_IP.address, STATIC_IP.address2)}`, `"SubnetMask"=${multiSz(STATIC_IP.mask, STATIC_IP.mask2)}`, `"DefaultGateway"=${multiSz(STATIC_IP.gateway)}`,
      `"NameServer"="${STATIC_IP.dns.join(',')}"`, '',
      `[${cs}\\Services\\Tcpip\\Parameters\\Interfaces\\${DHCP_IFACE_GUID}]`, '"EnableDHCP"=dword:00000001', `"IPAddress"=${multiSz('0.0.0.0')}`, '',
      `[${cs}\\Services\\VMTools]`, '"Type"=dword:00000010', '"Start"=dword:00000002', '"ImagePath"=str(2):"\\"C:\\\\Program Files\\\\VMware\\\\VMware Tools\\\\vmtoolsd.exe\\""', '');
    for (const name of s.vmware) {
      const v = VMWARE_SERVICES[name]!;
      out.push(`[${cs}\\Services\\${name}]`, `"Type"=dword:0000000${v.type}`, `"Start"=dword:0000000${v.start}`, '"ErrorControl"=dword:00000001',
        `"Group"="${v.group}"`, `"ImagePath"=str(2):"${v.image}"`, '');
    }
    if (s.cdd) out.push(`[${cs}\\Control\\CriticalDeviceDatabase]`, '', `[${cs}\\Control\\CriticalDeviceDatabase\\pci#ven_15ad&dev_07c0]`,
      '"Service"="pvscsi"', '"ClassGUID"="{4D36E97B-E325-11CE-BFC1-08002BE10318}"', '');
  }
  return out.join('\n');
}

function makeHive(file: string, reg: string, prefix: string, work: string): void {
  copyFileSync(MINIMAL_HIVE, file);
  const regFile = `${file}.reg`;
  writeFileSync(regFile, reg);
  execFileSync('hivexregedit', ['--merge', '--prefix', prefix, file, regFile], { stdio: ['ignore', 'ignore', 'pipe'], cwd: work });
}

function variantSpec(v: WindowsVariant): { spec: Spec; hostname: string } {
  if (v === 'win7') return { spec: SPECS.win7, hostname: 'w7-vmware' };
  if (v === 'win10-hibernated') return { spec: SPECS.win10, hostname: 'w10-vmware' };
  if (v === 'win2019-no-control-set') return { spec: { ...SPECS.win2019, current: 2 }, hostname: 'w2019-vmware' };
  return { spec: SPECS.win2019, hostname: 'w2019-vmware' };
}

function key(): string {
  const h = createHash('sha256').update(RECIPE).update(readFileSync(MINIMAL_HIVE));
  for (const v of VARIANTS) { const { spec, hostname } = variantSpec(v); h.update(softwareReg(spec) + systemReg(spec, hostname)); }
  return h.digest('hex').slice(0, 16);
}

/** Path of a cached raw disk of one variant (never modify it: copy first). */
export function windowsGuestDisk(variant: WindowsVariant): string {
  const dir = join(FIXTURE_CACHE, `windows-${key()}`);
  const disk = (v: WindowsVariant) => join(dir, `${v}.raw`);
  if (existsSync(disk(variant))) return disk(variant);
  const work = `${dir}.build-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    writeFileSync(join(work, 'cmd.exe'), peStub());
    writeFileSync(join(work, 'placeholder.sys'), 'h2k fixture: a VMware driver placeholder\n');
    writeFileSync(join(work, 'vmtoolsd.exe'), peStub());
    writeFileSync(join(work, 'hiberfil.sys'), Buffer.concat([Buffer.from('HIBR'), Buffer.alloc(65532)]));
    const script: string[] = ['run'];
    VARIANTS.forEach((v, i) => {
      const { spec, hostname } = variantSpec(v);
      const sw = join(work, `${v}.SOFTWARE`);
      const sys = join(work, `${v}.SYSTEM`);
      makeHive(sw, softwareReg(spec), 'HKEY_LOCAL_MACHINE\\SOFTWARE', work);
      makeHive(sys, systemReg(spec, hostname), 'HKEY_LOCAL_MACHINE\\SYSTEM', work);
      if (v === 'win2019-corrupt-hive') writeFileSync(sys, readFileSync(sys).subarray(0, 5000)); // cut mid-hbin
      execFileSync('truncate', ['-s', '40M', join(work, `${v}.raw`)]);
      const dev = `/dev/sd${String.fromCharCode(97 + i)}`;
      script.push(`part-disk ${dev} mbr`, `part-set-bootable ${dev} 1 true`, `mkfs ntfs ${dev}1`, `mount ${dev}1 /`,
        'mkdir-p /Windows/System32/config', 'mkdir-p /Windows/System32/drivers', 'mkdir-p "/Program Files/VMware/VMware Tools"',
        `upload ${sw} /Windows/System32/config/SOFTWARE`, `upload ${sys} /Windows/System32/config/SYSTEM`,
        `upload ${join(work, 'cmd.exe')} /Windows/System32/cmd.exe`, `upload ${join(work, 'vmtoolsd.exe')} "/Program Files/VMware/VMware Tools/vmtoolsd.exe"`,
        ...spec.vmware.map((d) => `upload ${join(work, 'placeholder.sys')} /Windows/System32/drivers/${VMWARE_SERVICES[d]!.image.split('\\\\').pop()}`),
        'write /bootmgr "h2k windows fixture"',
        ...(v === 'win10-hibernated' ? [`upload ${join(work, 'hiberfil.sys')} /hiberfil.sys`] : []),
        'umount /');
    });
    writeFileSync(join(work, 'build.gfs'), script.join('\n') + '\n');
    const env: NodeJS.ProcessEnv = { ...process.env, LIBGUESTFS_BACKEND: 'direct' };
    if (process.env.H2K_GUEST_ACCEL !== 'kvm') env.LIBGUESTFS_BACKEND_SETTINGS = 'force_tcg';
    execFileSync('guestfish', [...VARIANTS.flatMap((v) => ['--format=raw', '-a', join(work, `${v}.raw`)]), '-f', join(work, 'build.gfs')], {
      stdio: ['ignore', 'ignore', 'pipe'], env, cwd: work, timeout: 900_000,
    });
    mkdirSync(dir, { recursive: true });
    for (const v of VARIANTS) renameSync(join(work, `${v}.raw`), disk(v));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return disk(variant);
}

/**
 * A copy of a variant's disk whose Windows partition is changed on the host, outside any appliance:
 * 'bitlocker' writes BitLocker's -FVE-FS- OEM id over NTFS's at byte 3 of the boot sector; 'dirty'
 * runs ntfs-3g's ntfsfix on the partition, which sets the NTFS dirty bit (as it does without -d).
 */
export function alteredWindowsDisk(variant: WindowsVariant, change: 'bitlocker' | 'dirty', target: string): string {
  copyFileSync(windowsGuestDisk(variant), target);
  const table = JSON.parse(execFileSync('sfdisk', ['-J', target], { encoding: 'utf8' })) as { partitiontable: { partitions: { start: number; size: number }[] } };
  const { start, size } = table.partitiontable.partitions[0]!;
  if (change === 'bitlocker') {
    const fd = openSync(target, 'r+');
    try {
      writeSync(fd, Buffer.from('-FVE-FS-', 'latin1'), 0, 8, start * 512 + 3);
    } finally {
      closeSync(fd);
    }
    return target;
  }
  const part = `${target}.part`;
  try {
    execFileSync('dd', [`if=${target}`, `of=${part}`, 'bs=512', `skip=${start}`, `count=${size}`], { stdio: 'ignore' });
    execFileSync('ntfsfix', [part], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('dd', [`if=${part}`, `of=${target}`, 'bs=512', `seek=${start}`, 'conv=notrunc'], { stdio: 'ignore' });
  } finally {
    rmSync(part, { force: true });
  }
  return target;
}

export const VIRTIO_DRIVERS: Record<string, string> = { viostor: 'viostor', vioscsi: 'vioscsi', NetKVM: 'netkvm', Balloon: 'balloon', vioserial: 'vioser' };

/** A virtio-win tree in the ISO layout with placeholder files whose content names their path. */
export function virtioWinTree(root: string, oses = ['w7', '2k8R2', 'w10', '2k19', 'w11']): string {
  for (const [dir, base] of Object.entries(VIRTIO_DRIVERS))
    for (const os of oses)
      for (const arch of ['x86', 'amd64']) {
        if (arch === 'x86' && os.startsWith('2k')) continue;
        const d = join(root, dir, os, arch);
        mkdirSync(d, { recursive: true });
        for (const ext of ['sys', 'inf', 'cat']) writeFileSync(join(d, `${base}.${ext}`), `h2k placeholder ${dir}/${os}/${arch}/${base}.${ext}\n`);
      }
  mkdirSync(join(root, 'qemupciserial'), { recursive: true });
  writeFileSync(join(root, 'qemupciserial', 'qemupciserial.inf'), 'h2k placeholder qemupciserial.inf\n');
  return root;
}

/** The same tree as an ISO 9660 image with Joliet and Rock Ridge names (xorriso), as virtio-win ships. */
export function virtioWinIso(tree: string, iso: string): string {
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-J', '-R', '-V', 'virtio-win', '-o', iso, tree], { stdio: ['ignore', 'ignore', 'pipe'] });
  return iso;
}
