// The VDI (dynamic) and streamOptimized VMDK writers, end to end through `h2k convert`:
// qemu-img check must be clean and qemu-img compare identical; the VMDK stream also goes
// into an OVA and back through our own in-place reader.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { runNativeTool } from './helpers/native-tool.js';
import { MiB, qemuCompare, qemuImg, seededBytes, writeSparseRaw } from './helpers/vmdk-fixtures.js';
import { manifestFor, writeTar } from './helpers/formats-fixtures.js';
import { vmwareOvf } from './helpers/ovf-samples.js';
import { spawnSync } from 'node:child_process';

let dir: string;
let src: string;
const SIZE = 40 * MiB + 3 * 512;

function check(image: string, format: string): void {
  const r = spawnSync('qemu-img', ['check', '-f', format, image], { encoding: 'utf8' });
  expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'h2k-writers-'));
  src = writeSparseRaw(join(dir, 'src.raw'), SIZE, [
    { offset: 0, bytes: Buffer.from('h2k writer test '.repeat(70000)).subarray(0, MiB) },
    { offset: 7 * MiB + 4096, bytes: seededBytes(500 * 1024, 31) },
    { offset: 33 * MiB, bytes: seededBytes(70 * 1024, 32) }, // second grain table of the VMDK
    { offset: SIZE - 512, bytes: seededBytes(512, 33) },
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writers', () => {
  it('h2k convert -O vdi writes a dynamic VDI that qemu-img checks clean and reads identically', async () => {
    const out = join(dir, 'out.vdi');
    const r = await runH2k(['convert', src, '-O', 'vdi', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    check(out, 'vdi');
    expect(qemuCompare(src, 'raw', out, 'vdi').code).toBe(0);
    const info = JSON.parse(qemuImg(['info', '--output=json', out])) as { 'virtual-size': number; format: string };
    expect(info.format).toBe('vdi');
    expect(info['virtual-size']).toBe(SIZE);
    // Dynamic: holes stay unallocated (7 MiB-ish of data in 1 MiB blocks, not 40 MiB).
    expect(statSync(out).size).toBeLessThan(12 * MiB);
    expect(runNativeTool(['info', out]).stdout).toContain('subformat: dynamic');
  });

  it('h2k convert -O vmdk writes a GD_AT_END streamOptimized VMDK that qemu-img checks clean, also inside an OVA', async () => {
    const out = join(dir, 'disk.vmdk');
    const r = await runH2k(['convert', src, '-O', 'vmdk', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    check(out, 'vmdk');
    expect(qemuCompare(src, 'raw', out, 'vmdk').code).toBe(0);
    const head = readFileSync(out).subarray(0, 2048);
    expect(head.subarray(0, 4).toString()).toBe('KDMV');
    expect(head.readBigUInt64LE(56)).toBe(0xffffffffffffffffn); // gdOffset = GD_AT_END: a true stream
    expect(head.toString('latin1')).toContain('createType="streamOptimized"');
    expect(head.toString('latin1')).toContain('SPARSE "disk.vmdk"');
    const tail = readFileSync(out).subarray(-512);
    expect(tail.every((b) => b === 0)).toBe(true); // EOS marker
    const ova = join(dir, 'back.ova');
    const ovf = {
      name: 'vm.ovf',
      data: Buffer.from(vmwareOvf({ name: 'vm', vcpus: 1, memoryMiB: 512, disks: [{ href: 'disk.vmdk', capacityBytes: statSync(src).size, controller: 'scsi', unit: 0 }], nics: [] })),
    };
    const disk = { name: 'disk.vmdk', path: out };
    writeTar(ova, [ovf, { name: 'vm.mf', data: manifestFor([ovf, disk]) }, disk]);
    const back = join(dir, 'back.qcow2');
    const r2 = await runH2k(['convert', ova, '-o', back]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(qemuCompare(src, 'raw', back, 'qcow2').code).toBe(0);
  });

  it('refuses compression for vdi/vmdk output with a usage error and writes nothing', async () => {
    const out = join(dir, 'nope.vdi');
    const r = await runH2k(['convert', src, '-O', 'vdi', '-c', 'zstd', '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_INVALID_ARGUMENT');
    expect(spawnSync('test', ['-e', out]).status).not.toBe(0);
  });
});
