// OVA archives read in place: disks opened at their offset inside the tar (VMDK stream,
// VHD, gzip-compressed members), .mf digests verified (a tampered archive fails), damaged
// tars fail cleanly; `h2k convert` and `h2k ovf --libvirt-xml` work end to end with
// qemu-img compare as the oracle and leave nothing behind on failure.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { runNativeTool } from './helpers/native-tool.js';
import { MiB, patchFile, qemuCompare, qemuImg, seededBytes, writeSparseRaw } from './helpers/vmdk-fixtures.js';
import { manifestFor, writeTar, type TarEntry } from './helpers/formats-fixtures.js';
import { vmwareOvf } from './helpers/ovf-samples.js';

let dir: string;
let raw1: string;
let raw2: string;
let vmdk1: string;
let vhd2: string;
const SIZE1 = 12 * MiB + 1536;
const SIZE2 = 8 * MiB;

function ovfEntry(): TarEntry {
  const xml = vmwareOvf({
    name: 'ova-vm',
    vcpus: 2,
    memoryMiB: 2048,
    disks: [
      // Disk 2 sits on IDE, disk 1 on SCSI 0:0: controller order puts disk1 first.
      { href: 'disk1.vmdk', capacityBytes: SIZE1, controller: 'scsi', unit: 0 },
      { href: 'disk2.vhd', capacityBytes: SIZE2, controller: 'ide', unit: 0 },
    ],
    nics: [{ network: 'VM Network', model: 'VmxNet3' }],
  });
  return { name: 'ova-vm.ovf', data: Buffer.from(xml) };
}

/** .ovf first, then the manifest, then the disks: the layout exporters write. */
function buildOva(out: string, disks: TarEntry[], opts: { manifest?: boolean; algorithm?: 'SHA1' | 'SHA256' } = {}): string {
  const ovf = ovfEntry();
  const entries: TarEntry[] = [ovf];
  if (opts.manifest !== false) entries.push({ name: 'ova-vm.mf', data: manifestFor([ovf, ...disks], opts.algorithm) });
  writeTar(out, [...entries, ...disks]);
  return out;
}

function expectCatEquals(image: string, expectedRaw: string): void {
  const out = join(dir, `cat-${Math.random().toString(36).slice(2)}.raw`);
  const r = runNativeTool(['cat', image, out]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(qemuCompare(expectedRaw, 'raw', out, 'raw').code).toBe(0);
  rmSync(out);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'h2k-ova-'));
  const text = Buffer.from('h2k ova test disk one. '.repeat(50000)).subarray(0, MiB);
  raw1 = writeSparseRaw(join(dir, 'disk1.raw'), SIZE1, [
    { offset: 0, bytes: text },
    { offset: 6 * MiB, bytes: seededBytes(200 * 1024, 11) },
    { offset: SIZE1 - 1024, bytes: seededBytes(1024, 12) },
  ]);
  raw2 = writeSparseRaw(join(dir, 'disk2.raw'), SIZE2, [{ offset: MiB + 512, bytes: seededBytes(300 * 1024, 13) }]);
  vmdk1 = join(dir, 'disk1.vmdk');
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw1, vmdk1]);
  vhd2 = join(dir, 'disk2.vhd');
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic,force_size=on', raw2, vhd2]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('native OVA reader', () => {
  it('opens the first disk by default and any disk by member path, in place, with the SHA256 manifest verified', () => {
    const ova = buildOva(join(dir, 'vm.ova'), [{ name: 'disk1.vmdk', path: vmdk1 }, { name: 'disk2.vhd', path: vhd2 }]);
    expectCatEquals(ova, raw1);
    expectCatEquals(`${ova}/disk2.vhd`, raw2);
    const info = runNativeTool(['info', ova]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain('format: ova');
    expect(info.stdout).toContain('innerFormat: vmdk');
    expect(info.stdout).toContain('subformat: vmdk/streamOptimized');
    const member = runNativeTool(['info', `${ova}/disk2.vhd`]);
    expect(member.stdout).toContain('format: ova');
    expect(member.stdout).toContain('subformat: vhd/dynamic');
    expect(member.stdout).toContain('member: disk2.vhd');
    expect(info.stdout).toContain('digest: SHA256 verified');
    // No scratch space: nothing was extracted next to the archive.
    expect(readdirSync(dir).filter((f) => f.endsWith('.vmdk'))).toEqual(['disk1.vmdk']);
  });

  it('streams gzip-compressed members (ovf:compression="gzip"), including restarts after a seek to the end', () => {
    // A fixed VHD (footer at the very end) of 40 MiB: the probe reads the end first, then
    // the copy restarts from earlier restart points (every 32 MiB of output).
    const big = writeSparseRaw(join(dir, 'big.raw'), 40 * MiB, [
      { offset: 0, bytes: seededBytes(MiB, 21) },
      { offset: 33 * MiB, bytes: seededBytes(MiB, 22) },
      { offset: 40 * MiB - 4096, bytes: seededBytes(4096, 23) },
    ]);
    const fixedVhd = join(dir, 'big.vhd');
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', big, fixedVhd]);
    const ova = buildOva(join(dir, 'gz.ova'), [
      { name: 'disk1.vmdk', data: gzipSync(readFileSync(vmdk1)) },
      { name: 'big.vhd', data: gzipSync(readFileSync(fixedVhd)) },
    ], { algorithm: 'SHA1' });
    expectCatEquals(ova, raw1);
    expectCatEquals(`${ova}/big.vhd`, big);
    const info = runNativeTool(['info', `${ova}/big.vhd`]);
    expect(info.stdout).toContain('memberCompression: gzip');
    expect(info.stdout).toContain('digest: SHA1 verified');
  });

  it('a tampered disk fails its digest check; missing members, incomplete manifests and damaged tars fail cleanly', () => {
    const ova = buildOva(join(dir, 'ok.ova'), [{ name: 'disk1.vmdk', path: vmdk1 }, { name: 'disk2.vhd', path: vhd2 }]);
    const tampered = join(dir, 'tampered.ova');
    copyFileSync(ova, tampered);
    // Flip one byte inside disk1's grain data (past the ovf, mf and the vmdk header).
    const mfAndOvf = 512 * 6;
    patchFile(tampered, mfAndOvf + 200_000, Buffer.from([0x5a]));
    const r = runNativeTool(['cat', tampered, join(dir, 'never.raw')]);
    expect(r.code).not.toBe(0);
    expect(r.errorCode).toBe('E_OVA_DIGEST_MISMATCH');
    expect(runNativeTool(['cat', `${ova}/nope.vmdk`, join(dir, 'x.raw')]).errorCode).toBe('E_OVA_NO_MEMBER');
    // A manifest that does not list the disk.
    const ovf = ovfEntry();
    const partial = join(dir, 'partial.ova');
    writeTar(partial, [ovf, { name: 'ova-vm.mf', data: manifestFor([ovf]) }, { name: 'disk1.vmdk', path: vmdk1 }]);
    expect(runNativeTool(['cat', partial, join(dir, 'x.raw')]).errorCode).toBe('E_OVA_BAD_MANIFEST');
    // Without a manifest the disk still opens, with a warning.
    const bare = buildOva(join(dir, 'bare.ova'), [{ name: 'disk1.vmdk', path: vmdk1 }], { manifest: false });
    expect(runNativeTool(['info', bare]).stdout).toContain('no manifest');
    // A truncated archive and a header with a broken checksum.
    const cut = join(dir, 'cut.ova');
    copyFileSync(ova, cut);
    truncateSync(cut, statSync(ova).size - statSync(vhd2).size);
    const rc = runNativeTool(['cat', `${cut}/disk2.vhd`, join(dir, 'x.raw')]);
    expect(rc.code).not.toBe(0);
    expect(rc.errorCode).toMatch(/^E_(OVA_BAD_TAR|TRUNCATED)$/);
    const badSum = join(dir, 'badsum.ova');
    copyFileSync(ova, badSum);
    patchFile(badSum, 10, Buffer.from('X'));
    expect(runNativeTool(['info', badSum]).errorCode).toBe('E_OVA_BAD_TAR');
  });
});

describe('CLI', () => {
  it('h2k convert vm.ova/<member> -> qcow2 is identical to that disk', async () => {
    const ova = buildOva(join(dir, 'cli.ova'), [{ name: 'disk1.vmdk', path: vmdk1 }, { name: 'disk2.vhd', path: vhd2 }]);
    const out = join(dir, 'cli.qcow2');
    const r = await runH2k(['convert', `${ova}/disk1.vmdk`, '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(qemuCompare(raw1, 'raw', out, 'qcow2').code).toBe(0);
    const member = join(dir, 'cli-disk2.qcow2');
    const r2 = await runH2k(['convert', `${ova}/disk2.vhd`, '-o', member, '-c', 'zstd', '--json']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(qemuCompare(raw2, 'raw', member, 'qcow2').code).toBe(0);
    const res = JSON.parse(r2.stdout) as { results: Array<{ sourceFormat: string; sourceSubformat: string }> };
    expect(res.results[0].sourceFormat).toBe('ova');
    expect(res.results[0].sourceSubformat).toBe('vhd/dynamic');
    // Without -o the output lands beside the archive, not "inside" it.
    const r3 = await runH2k(['convert', `${ova}/disk2.vhd`, '--json']);
    expect(r3.code, r3.stderr).toBe(0);
    expect(qemuCompare(raw2, 'raw', join(dir, 'disk2.qcow2'), 'qcow2').code).toBe(0);
  });

  it('h2k convert checks the disk digest from its own reads: a tampered disk fails before the output is committed', async () => {
    const ova = buildOva(join(dir, 'conv.ova'), [{ name: 'disk1.vmdk', path: vmdk1 }, { name: 'disk2.vhd', path: vhd2 }]);
    const tampered = join(dir, 'conv-tampered.ova');
    copyFileSync(ova, tampered);
    patchFile(tampered, 512 * 6 + 200_000, Buffer.from([0x5a]));
    const out = join(dir, 'conv-tampered.qcow2');
    const r = await runH2k(['convert', `${tampered}/disk1.vmdk`, '-o', out]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/E_OVA_DIGEST_MISMATCH/);
    expect(r.stderr).toMatch(/but the manifest says/);
    expect(existsSync(out) || existsSync(`${out}.partial`)).toBe(false);
    // The intact archive converts, and --hash still reports the archive's own hash.
    const good = join(dir, 'conv-good.qcow2');
    const g = await runH2k(['convert', `${ova}/disk1.vmdk`, '-o', good, '--hash', 'sha256', '--json']);
    expect(g.code, g.stderr).toBe(0);
    const res = JSON.parse(g.stdout) as { results: Array<{ sourceHashes: Record<string, string> }> };
    expect(res.results[0].sourceHashes.sha256).toBe(createHash('sha256').update(readFileSync(ova)).digest('hex'));
    expect(qemuCompare(raw1, 'raw', good, 'qcow2').code).toBe(0);
  });

  it('h2k ovf converts every disk in controller order and writes a valid libvirt XML', async () => {
    const ova = buildOva(join(dir, 'multi.ova'), [{ name: 'disk1.vmdk', path: vmdk1 }, { name: 'disk2.vhd', path: vhd2 }]);
    const out = join(dir, 'multi-out');
    mkdirSync(out);
    const r = await runH2k(['ovf', ova, '-o', out, '--libvirt-xml', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { disks: Array<{ output: string }>; libvirtXml: string };
    expect(res.disks.map((d) => d.output)).toEqual([join(out, 'ova-vm-disk1.qcow2'), join(out, 'ova-vm-disk2.qcow2')]);
    expect(qemuCompare(raw1, 'raw', res.disks[0].output, 'qcow2').code).toBe(0);
    expect(qemuCompare(raw2, 'raw', res.disks[1].output, 'qcow2').code).toBe(0);
    const v = spawnSync('virt-xml-validate', [res.libvirtXml, 'domain'], { encoding: 'utf8' });
    expect(v.status, `${v.stdout}${v.stderr}`).toBe(0);
    const xml = readFileSync(res.libvirtXml, 'utf8');
    expect(xml.indexOf('ova-vm-disk1.qcow2')).toBeLessThan(xml.indexOf('ova-vm-disk2.qcow2'));
    expect(xml).toContain(`<vcpu placement='static'>2</vcpu>`);
  });

  it('h2k ovf on a loose .ovf verifies its .mf; a tampered disk exits 3 and leaves no output', async () => {
    const loose = join(dir, 'loose');
    mkdirSync(loose);
    const ovf = ovfEntry();
    writeFileSync(join(loose, ovf.name), ovf.data!);
    copyFileSync(vmdk1, join(loose, 'disk1.vmdk'));
    copyFileSync(vhd2, join(loose, 'disk2.vhd'));
    writeFileSync(join(loose, 'ova-vm.mf'), manifestFor([ovf, { name: 'disk1.vmdk', path: vmdk1 }, { name: 'disk2.vhd', path: vhd2 }]));
    const out = join(dir, 'loose-out');
    mkdirSync(out);
    const ok = await runH2k(['ovf', join(loose, ovf.name), '-o', out, '--libvirt-xml']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(qemuCompare(raw2, 'raw', join(out, 'ova-vm-disk2.qcow2'), 'qcow2').code).toBe(0);
    patchFile(join(loose, 'disk2.vhd'), 4 * MiB, Buffer.from([1, 2, 3]));
    const out2 = join(dir, 'loose-out2');
    mkdirSync(out2);
    const bad = await runH2k(['ovf', join(loose, ovf.name), '-o', out2, '--libvirt-xml']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('E_OVA_DIGEST_MISMATCH');
    expect(readdirSync(out2)).toEqual([]);
    // Inside an OVA the same tamper is caught by the native reader, after disk 1 converted:
    // disk 1's output must be removed again.
    const tamperedOva = buildOva(join(dir, 'late.ova'), [{ name: 'disk1.vmdk', path: vmdk1 }, { name: 'disk2.vhd', path: vhd2 }]);
    const size = statSync(tamperedOva).size;
    patchFile(tamperedOva, size - 1024 - 4096, Buffer.from([0xee]));
    const out3 = join(dir, 'late-out');
    mkdirSync(out3);
    const late = await runH2k(['ovf', tamperedOva, '-o', out3, '--libvirt-xml']);
    expect(late.code).toBe(3);
    expect(late.stderr).toContain('E_OVA_DIGEST_MISMATCH');
    expect(readdirSync(out3)).toEqual([]);
    expect(existsSync(join(out3, 'ova-vm.xml'))).toBe(false);
  });
  it('h2k convert of a multi-disk OVA converts every disk, named by OVF disk id; one output path for it is refused before any work', async () => {
    const ova = buildOva(join(dir, 'two.ova'), [{ name: 'disk1.vmdk', path: vmdk1 }, { name: 'disk2.vhd', path: vhd2 }]);
    const out = join(dir, 'two-out');
    mkdirSync(out);
    const r = await runH2k(['convert', ova, '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { results: Array<{ source: string; output: string }> };
    expect(res.results.map((x) => x.output).sort()).toEqual([join(out, 'two-vmdisk1.qcow2'), join(out, 'two-vmdisk2.qcow2')]);
    expect(qemuCompare(raw1, 'raw', join(out, 'two-vmdisk1.qcow2'), 'qcow2').code).toBe(0);
    expect(qemuCompare(raw2, 'raw', join(out, 'two-vmdisk2.qcow2'), 'qcow2').code).toBe(0);
    // Without -o the disks land beside the OVA; a file path for -o cannot hold two disks.
    const single = await runH2k(['convert', ova, '-o', join(dir, 'two.qcow2')]);
    expect(single.code).toBe(2);
    expect(single.stderr).toContain('holds 2 disks');
    expect(existsSync(join(dir, 'two.qcow2'))).toBe(false);
  });

  it('two sources with the same base name into one directory are refused, not overwritten', async () => {
    const a = join(dir, 'same-a');
    const b = join(dir, 'same-b');
    mkdirSync(a);
    mkdirSync(b);
    copyFileSync(vmdk1, join(a, 'disk.vmdk'));
    copyFileSync(vmdk1, join(b, 'disk.vmdk'));
    const out = join(dir, 'same-out');
    mkdirSync(out);
    const r = await runH2k(['convert', join(a, 'disk.vmdk'), join(b, 'disk.vmdk'), '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('would both be written to');
    expect(readdirSync(out)).toEqual([]);
  });
});
