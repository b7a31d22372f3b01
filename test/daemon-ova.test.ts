// A multi-disk OVA dropped into the watch folder: every disk converted (never only the first),
// each compared with qemu-img; a VM one of whose disks fails leaves none of its outputs behind.
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { compareImages, makeSeededRaw, qemuImg, toVmdk } from './helpers/fixtures.js';
import { daemonTestScope } from './helpers/daemon-harness.js';
import { manifestFor, writeTar, type TarEntry } from './helpers/formats-fixtures.js';
import { vmwareOvf } from './helpers/ovf-samples.js';
import { localDate } from '../src/util/local-date.js';

const { fx, start: startTracked } = daemonTestScope('daemon-ova-fx');

/** A 3-disk OVA (a VMDK on SCSI 0:0, a VHD on SCSI 0:1, a VMDK on IDE) and the raw disks behind it. */
function threeDiskOva(name: string, corruptThird = false): { ova: string; raws: string[] } {
  const raws = [1, 2, 3].map((i) => makeSeededRaw(join(fx.dir, `${name}-${i}.raw`), 2 + i, 40 + i));
  const d1 = toVmdk(raws[0], join(fx.dir, `${name}-1.vmdk`), 'streamOptimized');
  const d2 = join(fx.dir, `${name}-2.vhd`);
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vpc', raws[1], d2]);
  const d3 = toVmdk(raws[2], join(fx.dir, `${name}-3.vmdk`), 'streamOptimized');
  const disks: TarEntry[] = [
    { name: 'disk1.vmdk', path: d1 },
    { name: 'disk2.vhd', path: d2 },
    corruptThird ? { name: 'disk3.vmdk', data: Buffer.from('KDMV but not really a stream') } : { name: 'disk3.vmdk', path: d3 },
  ];
  const ovf: TarEntry = {
    name: `${name}.ovf`,
    data: Buffer.from(
      vmwareOvf({
        name,
        vcpus: 2,
        memoryMiB: 1024,
        disks: [
          { href: 'disk1.vmdk', capacityBytes: statSync(raws[0]).size, controller: 'scsi', unit: 0 },
          { href: 'disk2.vhd', capacityBytes: statSync(raws[1]).size, controller: 'scsi', unit: 1 },
          { href: 'disk3.vmdk', capacityBytes: statSync(raws[2]).size, controller: 'ide', unit: 0 },
        ],
        nics: [],
      }),
    ),
  };
  const ova = join(fx.dir, `${name}.ova`);
  writeTar(ova, [ovf, { name: `${name}.mf`, data: manifestFor([ovf, ...disks]) }, ...disks]);
  return { ova, raws };
}

describe('watch folder: OVA', () => {
  it('converts every disk of a multi-disk OVA, in controller order, and reports them all', async () => {
    const h = await startTracked();
    const { ova, raws } = threeDiskOva('tri');
    const dropped = join(h.watchDir, 'tri.ova');
    copyFileSync(ova, dropped);
    await h.waitForEvent('job_succeeded');
    const dir = join(h.outputDir, localDate(), 'tri');
    const outputs = ['tri-disk1.qcow2', 'tri-disk2.qcow2', 'tri-disk3.qcow2'].map((f) => join(dir, f));
    // controller order: SCSI 0:0, SCSI 0:1, IDE 0 -> raws 1, 2, 3
    outputs.forEach((o, i) => expect(compareImages(raws[i], o, 'raw', 'qcow2').code, o).toBe(0));
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report.disks.map((d: { path: string }) => d.path)).toEqual(outputs);
    expect(report.output.bytes).toBe(outputs.reduce((a, o) => a + statSync(o).size, 0));
  });

  it('a VM with one bad disk fails as a whole: no output of it is left, the OVA goes to .errors/', async () => {
    const h = await startTracked();
    const { ova } = threeDiskOva('bad', true);
    copyFileSync(ova, join(h.watchDir, 'bad.ova'));
    await h.waitForEvent('job_failed');
    expect(existsSync(join(h.watchDir, '.errors', 'bad.ova.error.json'))).toBe(true);
    const day = join(h.outputDir, localDate());
    const left = existsSync(join(day, 'bad')) ? readdirSync(join(day, 'bad')) : [];
    expect(left.filter((f) => f.endsWith('.qcow2') || f.endsWith('.partial'))).toEqual([]);
  });
});
