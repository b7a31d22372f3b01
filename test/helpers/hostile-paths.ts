// A hostile corpus for the path rule (native/src/io/open_beneath.hpp): appliances and images
// whose metadata names a file outside their own directory, in every field that names a file and
// every spelling (.., absolute, symlink, symlink chain, symlinked directory, /proc, FIFO, device).
// Built at test time from seeded data; the "host secrets" are bait files holding a marker.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSeededRaw, qemuImg, toVmdk } from './fixtures.js';
import { manifestFor, writeDiffVhd, writeDiffVhdx, writeTar, type TarEntry } from './formats-fixtures.js';
import { vmwareOvf } from './ovf-samples.js';

export interface HostileCase {
  name: string;
  /** The field that names the file and how it is spelled. */
  field: string;
  /** h2k's arguments (the case directory holds the input; outputs go to `out`). */
  h2k: (caseDir: string, out: string) => string[];
  /** The same input given to qemu-img convert, where qemu-img reads the format. */
  qemu?: (caseDir: string, out: string) => string[];
  /** The code h2k must refuse with. */
  code: string;
}

export interface Bait {
  dir: string;
  /** Raw bytes: the marker repeated to 1 MiB (a stand-in for /etc/shadow). */
  secret: string;
  /** A valid VMDK / qcow2 / VHD / VHDX / raw parent whose data is the marker. */
  vmdk: string;
  qcow2: string;
  vhd: string;
  vhdx: string;
  marker: string;
}

export function makeBait(root: string, seed: number): Bait {
  const dir = join(root, 'bait');
  mkdirSync(dir, { recursive: true });
  const marker = `H2K-BAIT-${seed.toString(16).padStart(8, '0')}-`;
  const secret = join(dir, 'shadow');
  const unit = Buffer.from(marker);
  const data = Buffer.alloc(1 << 20);
  for (let o = 0; o < data.length; o += unit.length) unit.copy(data, o);
  writeFileSync(secret, data);
  const vmdk = join(dir, 'base.vmdk');
  toVmdk(secret, vmdk, 'monolithicSparse');
  const qcow2 = join(dir, 'base.qcow2');
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'qcow2', secret, qcow2]);
  const vhd = join(dir, 'parent.vhd');
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic', secret, vhd]);
  const vhdx = join(dir, 'parent.vhdx');
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vhdx', '-o', 'subformat=dynamic', secret, vhdx]);
  return { dir, secret, vmdk, qcow2, vhd, vhdx, marker };
}

const ovfOf = (href: string) =>
  vmwareOvf({ name: 'evil', vcpus: 1, memoryMiB: 512, disks: [{ href, capacityGiB: 1, controller: 'scsi', unit: 0 }], nics: [] });

function ova(caseDir: string, entries: TarEntry[], withMf = true): string {
  const path = join(caseDir, 'evil.ova');
  writeTar(path, withMf ? [...entries, { name: 'evil.mf', data: manifestFor(entries) }] : entries);
  return path;
}

function flatDescriptor(extent: string, sectors = 2048): string {
  return [
    '# Disk DescriptorFile',
    'version=1',
    'CID=fffffffe',
    'parentCID=ffffffff',
    'createType="monolithicFlat"',
    '',
    `RW ${sectors} FLAT "${extent}" 0`,
    '',
    'ddb.virtualHWVersion = "4"',
    'ddb.geometry.cylinders = "2"',
    'ddb.geometry.heads = "16"',
    'ddb.geometry.sectors = "63"',
    'ddb.adapterType = "ide"',
    '',
  ].join('\n');
}

function deltaDescriptor(parentHint: string, extent: string): string {
  return [
    '# Disk DescriptorFile',
    'version=1',
    'CID=12345678',
    'parentCID=fffffffe',
    'createType="monolithicSparse"',
    `parentFileNameHint="${parentHint}"`,
    '',
    `RW 2048 SPARSE "${extent}"`,
    '',
  ].join('\n');
}

const ovfCmd = (name: string) => (d: string, out: string) => ['ovf', join(d, name), '-o', out];
const convertCmd = (name: string) => (d: string, out: string) => ['convert', join(d, name), '-o', join(out, 'out.qcow2')];
const qemuCmd = (name: string, fmt?: string) => (d: string, out: string) =>
  ['convert', ...(fmt ? ['-f', fmt] : []), '-O', 'qcow2', join(d, name), join(out, 'qemu.qcow2')];

/** Builds every case into root/cases/<name>/ and returns them. */
export function buildHostileCorpus(root: string, bait: Bait): Array<HostileCase & { dir: string }> {
  const small = join(root, 'small.raw');
  makeSeededRaw(small, 1, 7);
  const goodVmdk = join(root, 'good.vmdk');
  toVmdk(small, goodVmdk, 'streamOptimized');
  const rel = (caseDir: string, target: string) => {
    const depth = caseDir.split('/').length;
    return `${'../'.repeat(depth)}${target.replace(/^\//, '')}`;
  };
  const cases: Array<HostileCase & { build: (d: string) => void }> = [
    // OVA: an href is a member name, never a host path.
    { name: 'ova-href-dotdot', field: 'OVA ovf:href', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ova'),
      build: (d) => ova(d, [{ name: 'evil.ovf', data: Buffer.from(ovfOf(rel(d, bait.secret))) }, { name: 'disk1.vmdk', path: goodVmdk }]) },
    { name: 'ova-href-absolute', field: 'OVA ovf:href', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ova'),
      build: (d) => ova(d, [{ name: 'evil.ovf', data: Buffer.from(ovfOf(bait.secret)) }, { name: 'disk1.vmdk', path: goodVmdk }]) },
    { name: 'ova-href-proc', field: 'OVA ovf:href', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ova'),
      build: (d) => ova(d, [{ name: 'evil.ovf', data: Buffer.from(ovfOf('/proc/self/environ')) }, { name: 'disk1.vmdk', path: goodVmdk }]) },
    { name: 'ova-member-dotdot', field: 'OVA member name', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ova'),
      build: (d) => {
        ova(d, [{ name: 'evil.ovf', data: Buffer.from(ovfOf('../disk1.vmdk')) }, { name: '../disk1.vmdk', path: goodVmdk }]);
        writeFileSync(join(d, '..', 'disk1.vmdk'), readFileSync(bait.secret)); // what a host lookup would find
      } },
    // Loose OVF: hrefs resolve beneath the descriptor's directory.
    { name: 'ovf-href-dotdot', field: 'OVF ovf:href', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ovf'),
      build: (d) => writeFileSync(join(d, 'evil.ovf'), ovfOf(rel(d, bait.secret))) },
    { name: 'ovf-href-absolute', field: 'OVF ovf:href', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ovf'),
      build: (d) => writeFileSync(join(d, 'evil.ovf'), ovfOf(bait.secret)) },
    { name: 'ovf-href-symlink', field: 'OVF ovf:href', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ovf'),
      build: (d) => { writeFileSync(join(d, 'evil.ovf'), ovfOf('disk1.vmdk')); symlinkSync(bait.secret, join(d, 'disk1.vmdk')); } },
    { name: 'ovf-href-symlink-chain', field: 'OVF ovf:href', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ovf'),
      build: (d) => {
        writeFileSync(join(d, 'evil.ovf'), ovfOf('disk1.vmdk'));
        symlinkSync('hop.vmdk', join(d, 'disk1.vmdk'));
        symlinkSync(rel(d, bait.secret), join(d, 'hop.vmdk'));
      } },
    { name: 'ovf-href-symlinked-dir', field: 'OVF ovf:href', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ovf'),
      build: (d) => { writeFileSync(join(d, 'evil.ovf'), ovfOf('disks/shadow')); symlinkSync(bait.dir, join(d, 'disks')); } },
    { name: 'ovf-href-proc-link', field: 'OVF ovf:href', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ovf'),
      build: (d) => { writeFileSync(join(d, 'evil.ovf'), ovfOf('disk1.vmdk')); symlinkSync('/proc/self/environ', join(d, 'disk1.vmdk')); } },
    { name: 'ovf-href-fifo', field: 'OVF ovf:href', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ovf'),
      build: (d) => { writeFileSync(join(d, 'evil.ovf'), ovfOf('disk1.vmdk')); execFileSync('mkfifo', [join(d, 'disk1.vmdk')]); } },
    { name: 'ovf-mf-symlink', field: 'OVF .mf beside it', code: 'E_PATH_ESCAPE', h2k: ovfCmd('evil.ovf'),
      build: (d) => {
        writeFileSync(join(d, 'evil.ovf'), ovfOf('disk1.vmdk'));
        writeFileSync(join(d, 'disk1.vmdk'), readFileSync(goodVmdk));
        symlinkSync(bait.secret, join(d, 'evil.mf'));
      } },
    // VMDK descriptor extents.
    { name: 'vmdk-extent-dotdot', field: 'VMDK extent', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vmdk'), qemu: qemuCmd('evil.vmdk'),
      build: (d) => writeFileSync(join(d, 'evil.vmdk'), flatDescriptor(rel(d, bait.secret))) },
    { name: 'vmdk-extent-absolute', field: 'VMDK extent', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vmdk'), qemu: qemuCmd('evil.vmdk'),
      build: (d) => writeFileSync(join(d, 'evil.vmdk'), flatDescriptor(bait.secret)) },
    { name: 'vmdk-extent-symlink', field: 'VMDK extent', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vmdk'), qemu: qemuCmd('evil.vmdk'),
      build: (d) => { writeFileSync(join(d, 'evil.vmdk'), flatDescriptor('evil-flat.vmdk')); symlinkSync(bait.secret, join(d, 'evil-flat.vmdk')); } },
    { name: 'vmdk-extent-symlink-chain', field: 'VMDK extent', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vmdk'), qemu: qemuCmd('evil.vmdk'),
      build: (d) => {
        writeFileSync(join(d, 'evil.vmdk'), flatDescriptor('evil-flat.vmdk'));
        symlinkSync('hop', join(d, 'evil-flat.vmdk'));
        symlinkSync(rel(d, bait.secret), join(d, 'hop'));
      } },
    { name: 'vmdk-extent-proc', field: 'VMDK extent', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vmdk'), qemu: qemuCmd('evil.vmdk'),
      build: (d) => { writeFileSync(join(d, 'evil.vmdk'), flatDescriptor('evil-flat.vmdk')); symlinkSync('/proc/self/environ', join(d, 'evil-flat.vmdk')); } },
    { name: 'vmdk-extent-fifo', field: 'VMDK extent', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vmdk'),
      build: (d) => { writeFileSync(join(d, 'evil.vmdk'), flatDescriptor('evil-flat.vmdk')); execFileSync('mkfifo', [join(d, 'evil-flat.vmdk')]); } },
    { name: 'vmdk-extent-device', field: 'VMDK extent', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vmdk'), qemu: qemuCmd('evil.vmdk'),
      build: (d) => { writeFileSync(join(d, 'evil.vmdk'), flatDescriptor('evil-flat.vmdk')); execFileSync('mknod', [join(d, 'evil-flat.vmdk'), 'c', '1', '5']); } },
    // Parents and backing files.
    { name: 'vmdk-parent-dotdot', field: 'VMDK parentFileNameHint', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vmdk'), qemu: qemuCmd('evil.vmdk'),
      build: (d) => {
        qemuImg(['create', '-q', '-f', 'vmdk', join(d, 'evil-s.vmdk'), '1M']);
        const sparse = join(d, 'evil-s.vmdk');
        writeFileSync(join(d, 'evil.vmdk'), deltaDescriptor(rel(d, bait.vmdk), 'evil-s.vmdk'));
        void sparse;
      } },
    { name: 'vmdk-parent-symlink', field: 'VMDK parentFileNameHint', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vmdk'), qemu: qemuCmd('evil.vmdk'),
      build: (d) => {
        qemuImg(['create', '-q', '-f', 'vmdk', join(d, 'evil-s.vmdk'), '1M']);
        writeFileSync(join(d, 'evil.vmdk'), deltaDescriptor('base.vmdk', 'evil-s.vmdk'));
        symlinkSync(bait.vmdk, join(d, 'base.vmdk'));
      } },
    { name: 'qcow2-backing-absolute', field: 'qcow2 backing file', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.qcow2'), qemu: qemuCmd('evil.qcow2', 'qcow2'),
      build: (d) => qemuImg(['create', '-q', '-f', 'qcow2', '-u', '-b', bait.secret, '-F', 'raw', join(d, 'evil.qcow2'), '1M']) },
    { name: 'qcow2-backing-dotdot', field: 'qcow2 backing file', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.qcow2'), qemu: qemuCmd('evil.qcow2', 'qcow2'),
      build: (d) => qemuImg(['create', '-q', '-f', 'qcow2', '-u', '-b', rel(d, bait.qcow2), '-F', 'qcow2', join(d, 'evil.qcow2'), '1M']) },
    { name: 'qcow2-backing-symlink', field: 'qcow2 backing file', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.qcow2'), qemu: qemuCmd('evil.qcow2', 'qcow2'),
      build: (d) => {
        qemuImg(['create', '-q', '-f', 'qcow2', '-u', '-b', 'base.qcow2', '-F', 'qcow2', join(d, 'evil.qcow2'), '1M']);
        symlinkSync(bait.qcow2, join(d, 'base.qcow2'));
      } },
    { name: 'vhd-parent-symlink', field: 'VHD parent locator', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vhd'), qemu: qemuCmd('evil.vhd', 'vpc'),
      build: (d) => {
        symlinkSync(bait.vhd, join(d, 'parent.vhd'));
        writeDiffVhd(join(d, 'evil.vhd'), join(d, 'parent.vhd'), []);
      } },
    { name: 'vhdx-parent-symlink', field: 'VHDX parent locator', code: 'E_PATH_ESCAPE', h2k: convertCmd('evil.vhdx'), qemu: qemuCmd('evil.vhdx', 'vhdx'),
      build: (d) => {
        symlinkSync(bait.vhdx, join(d, 'parent.vhdx'));
        writeDiffVhdx(join(d, 'evil.vhdx'), join(d, 'parent.vhdx'), 1 << 20, []);
      } },
  ];
  return cases.map(({ build, ...c }) => {
    const dir = join(root, 'cases', c.name);
    mkdirSync(dir, { recursive: true });
    build(dir);
    return { ...c, dir };
  });
}

/**
 * The files a traced process really opened: `strace -y` prints the path each returned descriptor
 * names (symlinks resolved by the kernel), so a link to the bait shows as the bait.
 */
export function openedPaths(straceLog: string): string[] {
  const out: string[] = [];
  for (const line of straceLog.split('\n')) {
    const m = /\b(?:open|openat|openat2)\(.*\)\s+=\s+\d+<([^>]*)>/.exec(line);
    if (m) out.push(m[1]);
  }
  return out;
}
