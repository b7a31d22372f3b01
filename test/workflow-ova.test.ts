// Manifests with source_type ova / ovf: every disk of the VM converts to its own output in
// controller order (<stem>-diskN.<format>) with a libvirt domain XML beside them (<stem>.xml);
// the report lists every disk with its hashes; validate checks every disk. Fixtures: a 2-disk
// OVA (streamOptimized VMDK + dynamic VHD, made by qemu-img) written by the test, a 1-disk OVA
// and a loose OVF. Oracles: qemu-img compare per disk, xxh128sum of the raw disks,
// virt-xml-validate on the XML.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { compareImages, expectCleanCheck, makeSeededRaw, qemuImg } from './helpers/fixtures.js';
import { manifestFor, writeTar, type TarEntry } from './helpers/formats-fixtures.js';
import { vmwareOvf } from './helpers/ovf-samples.js';
import { workflowTree, type WorkflowTree } from './helpers/workflow-fixtures.js';

const MiB = 1024 * 1024;
let tree: WorkflowTree;
let raw1: string; // boot disk: SCSI 0:0
let raw2: string; // data disk: IDE 0:0
let vmdk1: string;
let vhd2: string;
let ova2: string;
let ova1: string;

const xxh128 = (f: string) => execFileSync('xxh128sum', [f], { encoding: 'utf8' }).split(/\s+/)[0];
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

function ovfEntry(disks: { href: string; raw: string; controller: 'scsi' | 'ide'; unit: number }[]): TarEntry {
  const xml = vmwareOvf({
    name: 'app vm',
    vcpus: 2,
    memoryMiB: 1024,
    // Listed data disk first: controller order (SCSI before IDE) must still put the boot disk first.
    disks: disks.map((d) => ({ href: d.href, capacityBytes: readFileSync(d.raw).length, controller: d.controller, unit: d.unit })).reverse(),
    nics: [{ network: 'VM Network', model: 'VmxNet3', mac: '00:50:56:01:02:03' }],
  });
  return { name: 'app.ovf', data: Buffer.from(xml) };
}

function buildOva(out: string, disks: { href: string; path: string; raw: string; controller: 'scsi' | 'ide'; unit: number }[]): string {
  const ovf = ovfEntry(disks);
  const members: TarEntry[] = disks.map((d) => ({ name: d.href, path: d.path }));
  writeTar(out, [ovf, { name: 'app.mf', data: manifestFor([ovf, ...members]) }, ...members]);
  return out;
}

function writeManifest(name: string, body: Record<string, unknown>): string {
  const f = join(tree.imagesDir, name);
  writeFileSync(f, JSON.stringify({ version: '1.0', ...body }, null, 2));
  return f;
}

beforeAll(() => {
  tree = workflowTree('wf-ova');
  raw1 = makeSeededRaw(join(tree.imagesDir, 'boot.raw'), 6, 611);
  raw2 = makeSeededRaw(join(tree.imagesDir, 'data.raw'), 4, 622);
  vmdk1 = join(tree.imagesDir, 'boot.vmdk');
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw1, vmdk1]);
  vhd2 = join(tree.imagesDir, 'data.vhd');
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic,force_size=on', raw2, vhd2]);
  ova2 = buildOva(join(tree.imagesDir, 'app.ova'), [
    { href: 'app-disk-boot.vmdk', path: vmdk1, raw: raw1, controller: 'scsi', unit: 0 },
    { href: 'app-disk-data.vhd', path: vhd2, raw: raw2, controller: 'ide', unit: 0 },
  ]);
  ova1 = buildOva(join(tree.imagesDir, 'single.ova'), [{ href: 'only.vmdk', path: vmdk1, raw: raw1, controller: 'scsi', unit: 0 }]);
}, 60_000);
afterAll(() => tree?.cleanup());

describe('manifest source_type ova/ovf', () => {
  it('a 2-disk OVA: one output per disk in controller order, libvirt XML beside them, every disk validated', async () => {
    const f = writeManifest('app.json', {
      pipeline: {
        load: { source_type: 'ova', source_path: 'app.ova' },
        convert: { output_format: 'qcow2', compress: 'zstd', output_path: 'vms/app.qcow2' },
        validate: { enabled: true },
      },
    });
    const r = await runH2k(['manifest', 'run', f, '-o', tree.outputDir, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    const d1 = join(tree.outputDir, 'vms', 'app-disk1.qcow2');
    const d2 = join(tree.outputDir, 'vms', 'app-disk2.qcow2');
    const xml = join(tree.outputDir, 'vms', 'app.xml');
    expect(readdirSync(join(tree.outputDir, 'vms')).sort()).toEqual(['app-disk1.qcow2', 'app-disk2.qcow2', 'app.xml']);
    // Independent oracles: each output is the same disk as its source, metadata clean.
    expect(compareImages(raw1, d1, 'raw', 'qcow2').code).toBe(0);
    expect(compareImages(vhd2, d2, 'vpc', 'qcow2').code).toBe(0);
    expect(compareImages(raw2, d2, 'raw', 'qcow2').code).toBe(0);
    expectCleanCheck(d1);
    expectCleanCheck(d2);
    const v = spawnSync('virt-xml-validate', [xml, 'domain'], { encoding: 'utf8' });
    if (v.error) throw v.error;
    expect(v.status).toBe(0);
    const text = readFileSync(xml, 'utf8');
    expect(text.indexOf(d1)).toBeGreaterThan(0);
    expect(text.indexOf(d1)).toBeLessThan(text.indexOf(d2));
    expect(text).toContain(`<mac address='00:50:56:01:02:03'/>`);

    expect(report.status).toBe('completed');
    expect(report.stages.load).toMatchObject({ status: 'success', source_type: 'ova', detected_format: 'ova', virtual_size: 10 * MiB });
    expect(report.stages.load.disks.map((d: { href: string; controller: string }) => [d.href, d.controller])).toEqual([
      ['app-disk-boot.vmdk', 'scsi'], ['app-disk-data.vhd', 'ide'],
    ]);
    expect(report.stages.load.vm).toMatchObject({ name: 'app vm', vcpus: 2, memory_bytes: 1024 * MiB, nics: 1 });
    expect(report.stages.convert).toMatchObject({ status: 'success', output_file: d1, compression: 'zstd', libvirt_xml: xml });
    expect(report.stages.convert.disks.map((d: { output_file: string }) => d.output_file)).toEqual([d1, d2]);
    expect(report.artifacts.output).toBe(d1);
    expect(report.artifacts.libvirt_xml).toBe(xml);
    expect(report.artifacts.disks).toEqual([
      expect.objectContaining({ disk: 1, input: `${ova2}/app-disk-boot.vmdk`, output: d1, hashes: expect.objectContaining({ output_content: { xxh128: xxh128(raw1) } }) }),
      expect.objectContaining({ disk: 2, input: `${ova2}/app-disk-data.vhd`, output: d2, hashes: expect.objectContaining({ output_content: { xxh128: xxh128(raw2) } }) }),
    ]);
    expect(report.artifacts.disks[1].hashes.source_content).toEqual({ xxh128: xxh128(raw2) });
    expect(report.stages.validate.checks.map((c: { name: string; passed: boolean }) => [c.name, c.passed])).toEqual([
      ['content_hash disk 1', true], ['content_hash disk 2', true],
      ['qemu_img_check disk 1', true], ['qemu_img_check disk 2', true], ['libvirt_xml', true],
    ]);
  });

  it('a single-disk OVA and a loose OVF (its .mf verified) in one batch, default names from the VM name', async () => {
    const ovfDir = join(tree.imagesDir, 'loose');
    mkdirSync(ovfDir);
    copyFileSync(vmdk1, join(ovfDir, 'a.vmdk'));
    copyFileSync(vhd2, join(ovfDir, 'b.vhd'));
    const ovf = ovfEntry([
      { href: 'a.vmdk', raw: raw1, controller: 'scsi', unit: 0 },
      { href: 'b.vhd', raw: raw2, controller: 'ide', unit: 0 },
    ]);
    writeFileSync(join(ovfDir, 'app.ovf'), ovf.data!);
    writeFileSync(join(ovfDir, 'app.mf'), manifestFor([ovf, { name: 'a.vmdk', path: vmdk1 }, { name: 'b.vhd', path: vhd2 }]));
    const f = writeManifest('pair.json', {
      batch: true,
      vms: [
        { name: 'one', pipeline: { load: { source_type: 'ova', source_path: 'single.ova' }, convert: { output_format: 'raw' }, validate: {} } },
        { name: 'loose', pipeline: { load: { source_type: 'ovf', source_path: 'loose/app.ovf' }, convert: { output_path: 'l/' } } },
      ],
    });
    const r = await runH2k(['manifest', 'run', f, '-o', tree.outputDir, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.summary).toMatchObject({ total: 2, completed: 2 });
    expect(compareImages(raw1, join(tree.outputDir, 'one-disk1.raw'), 'raw', 'raw').code).toBe(0);
    expect(existsSync(join(tree.outputDir, 'one.xml'))).toBe(true);
    expect(compareImages(raw1, join(tree.outputDir, 'l', 'loose-disk1.qcow2'), 'raw', 'qcow2').code).toBe(0);
    expect(compareImages(raw2, join(tree.outputDir, 'l', 'loose-disk2.qcow2'), 'raw', 'qcow2').code).toBe(0);
    expect(report.vms[1].artifacts.disks.map((d: { input: string }) => d.input)).toEqual([join(ovfDir, 'a.vmdk'), join(ovfDir, 'b.vhd')]);

    // A tampered loose disk fails its .mf digest. The load stage leaves the disks' digests to the
    // conversion (one read of each disk): with a data byte changed, disk 1 converts, disk 2 fails
    // its digest in the convert stage, and the VM leaves nothing behind.
    const vhdBytes = readFileSync(vhd2);
    const dataTampered = Buffer.from(vhdBytes);
    dataTampered[vhdBytes.length - 512 - 100] ^= 0xff; // inside the last data block, before the footer
    writeFileSync(join(ovfDir, 'b.vhd'), dataTampered);
    const bad = writeManifest('tampered.json', { pipeline: { load: { source_type: 'ovf', source_path: 'loose/app.ovf' }, convert: { output_path: 't/' } } });
    const r2 = await runH2k(['manifest', 'run', bad, '-o', tree.outputDir, '--json']);
    expect(r2.code).not.toBe(0);
    const rep2 = JSON.parse(r2.stdout);
    expect(rep2.failed_stage).toBe('convert');
    expect(rep2.error.code).toBe('E_OVA_DIGEST_MISMATCH');
    expect(rep2.error.message).toContain('b.vhd');
    const tDir = join(tree.outputDir, 't');
    expect(existsSync(tDir) ? readdirSync(tDir) : []).toEqual([]);
    // Without a convert stage (nothing reads the disks later) the load stage checks the digests itself.
    const loadOnly = writeManifest('tampered-load.json', { pipeline: { load: { source_type: 'ovf', source_path: 'loose/app.ovf' } } });
    const r3 = await runH2k(['manifest', 'run', loadOnly, '-o', tree.outputDir, '--json']);
    expect(r3.code).not.toBe(0);
    expect(JSON.parse(r3.stdout).stages.load.error.code).toBe('E_OVA_DIGEST_MISMATCH');
    // A damaged header makes the disk unreadable at load: the digest explains why.
    writeFileSync(join(ovfDir, 'b.vhd'), Buffer.concat([vhdBytes.subarray(0, 512), Buffer.alloc(512, 1), vhdBytes.subarray(1024)]));
    const r4 = await runH2k(['manifest', 'run', bad, '-o', tree.outputDir, '--json']);
    expect(r4.code).not.toBe(0);
    const rep4 = JSON.parse(r4.stdout);
    expect(rep4.failed_stage).toBe('load');
    expect(rep4.error.code).toBe('E_OVA_DIGEST_MISMATCH');
  });

  it('a tampered OVA disk: the convert stage catches the .mf digest from its own reads and the VM leaves nothing', async () => {
    const tampered = join(tree.imagesDir, 'tampered.ova');
    copyFileSync(join(tree.imagesDir, 'app.ova'), tampered);
    // A byte inside the last disk member (before the two 512-byte end-of-archive blocks).
    const fd = openSync(tampered, 'r+');
    writeSync(fd, Buffer.from([0xee]), 0, 1, statSync(tampered).size - 1024 - 4096);
    closeSync(fd);
    const f = writeManifest('tampered-ova.json', { pipeline: { load: { source_type: 'ova', source_path: 'tampered.ova' }, convert: { output_path: 'to/' } } });
    const r = await runH2k(['manifest', 'run', f, '-o', tree.outputDir, '--json']);
    expect(r.code).not.toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.stages.load.status ?? 'ok').not.toBe('failed'); // the load stage does not read the disks through
    expect(rep.failed_stage).toBe('convert');
    expect(rep.error.code).toBe('E_OVA_DIGEST_MISMATCH');
    const outDir = join(tree.outputDir, 'to');
    expect(existsSync(outDir) ? readdirSync(outDir) : []).toEqual([]);
  });

  it('validate (dry run) lists every planned output; a wrong source_type is a mismatch; a taken disk name stops the VM before any disk is written', async () => {
    const f = writeManifest('plan.json', { pipeline: { load: { source_type: 'ova', source_path: 'app.ova' }, convert: { output_path: 'plan/' } } });
    const r = await runH2k(['manifest', 'validate', f, '-o', tree.outputDir, '--json']);
    expect(r.code).toBe(0);
    const check = JSON.parse(r.stdout).manifests[0];
    expect(check.vms[0]).toMatchObject({ source_type: 'ova', detected_format: 'ova', virtual_size: 10 * MiB });
    expect(check.vms[0].outputs).toEqual(['plan-disk1.qcow2', 'plan-disk2.qcow2', 'plan.xml'].map((n) => join(tree.outputDir, 'plan', n)));

    const wrong = writeManifest('wrong.json', { pipeline: { load: { source_type: 'ova', source_path: 'boot.vmdk' }, convert: {} } });
    const w = await runH2k(['manifest', 'validate', wrong, '-o', tree.outputDir, '--json']);
    expect(w.code).toBe(3);
    expect(JSON.parse(w.stdout).manifests[0].problems[0]).toMatchObject({ code: 'E_FORMAT_MISMATCH' });
    expect(JSON.parse(w.stdout).manifests[0].problems[0].message).toContain('does not look like an OVA (detected vmdk)');

    // Disk 2's output name is taken: disk 1 must not be left behind either.
    mkdirSync(join(tree.outputDir, 'busy'));
    writeFileSync(join(tree.outputDir, 'busy', 'busy-disk2.qcow2'), 'x');
    const busy = writeManifest('busy.json', { pipeline: { load: { source_type: 'ova', source_path: 'app.ova' }, convert: { output_path: 'busy/' } } });
    const b = await runH2k(['manifest', 'run', busy, '-o', tree.outputDir, '--json']);
    expect(b.code).toBe(4);
    const rep = JSON.parse(b.stdout);
    expect(rep.stages.convert.error.code).toBe('E_OUTPUT_EXISTS');
    expect(readdirSync(join(tree.outputDir, 'busy'))).toEqual(['busy-disk2.qcow2']);
  });
});
