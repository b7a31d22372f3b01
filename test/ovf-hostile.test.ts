// Hostile appliances are refused by every command, with the same code: a descriptor with a
// DOCTYPE (billion laughs, XXE to a bait file, a parameter entity, an external DTD) fails
// `h2k ovf` (OVA and loose .ovf) and `h2k convert` (which does not otherwise parse the OVF) with
// E_OVF_DOCTYPE, nothing written and the bait never read; a gzip member that inflates to
// something that is no disk fails both commands with E_OVA_NO_DISK instead of becoming a disk
// (beside a loose .ovf, E_OVF_NOT_A_DISK); `h2k manifest validate` gives the OVA verdicts too.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runH2k, type RunResult } from './helpers/cli.js';
import { manifestFor, writeTar, type TarEntry } from './helpers/formats-fixtures.js';
import { vmwareOvf } from './helpers/ovf-samples.js';
import { MiB, qemuCompare, qemuImg, qemuVirtualSize, seededBytes, writeSparseRaw } from './helpers/vmdk-fixtures.js';

let dir: string;
let baitDir: string;
let bait: string;
let marker: string;
let raw: string;
let vmdk: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'h2k-hostile-'));
  // The bait lives outside the appliance's directory; its marker must never show up anywhere.
  baitDir = mkdtempSync(join(tmpdir(), 'h2k-bait-'));
  marker = `H2K-BAIT-${randomBytes(12).toString('hex')}`;
  bait = join(baitDir, 'secret.txt');
  writeFileSync(bait, `${marker}\n`);
  raw = writeSparseRaw(join(dir, 'disk.raw'), 2 * MiB, [{ offset: 0, bytes: seededBytes(64 * 1024, 5) }]);
  vmdk = join(dir, 'disk1.vmdk');
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk]);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(baitDir, { recursive: true, force: true });
});

function descriptor(doctype: string, name: string, disk: { gzip?: boolean; capacityBytes?: number; href?: string } = {}): string {
  const xml = vmwareOvf({
    name: 'hostile',
    vcpus: 1,
    memoryMiB: 512,
    disks: [{ href: disk.href ?? 'disk1.vmdk', capacityBytes: disk.capacityBytes ?? 2 * MiB, controller: 'scsi', unit: 0, gzip: disk.gzip }],
    nics: [],
  });
  return xml.replace('?>\n', `?>\n${doctype}\n`).replace('<Name>hostile</Name>', `<Name>${name}</Name>`);
}

/** The same appliance as an OVA and as a loose .ovf beside its disk. */
function appliance(tag: string, xml: string, disk: TarEntry = { name: 'disk1.vmdk', path: vmdk }): { ova: string; ovf: string } {
  const ovfEntry = { name: 'hostile.ovf', data: Buffer.from(xml) };
  const ova = join(dir, `${tag}.ova`);
  writeTar(ova, [ovfEntry, { name: 'hostile.mf', data: manifestFor([ovfEntry, disk]) }, disk]);
  const loose = join(dir, `${tag}-loose`);
  mkdirSync(loose);
  writeFileSync(join(loose, 'hostile.ovf'), xml);
  writeFileSync(join(loose, 'hostile.mf'), manifestFor([ovfEntry, disk]));
  writeFileSync(join(loose, disk.name), disk.data ?? readFileSync(disk.path!));
  return { ova, ovf: join(loose, 'hostile.ovf') };
}

function outDir(tag: string): string {
  const out = join(dir, `out-${tag}-${randomBytes(4).toString('hex')}`);
  mkdirSync(out);
  return out;
}

/** Every command the appliance can go through, each with its own empty output directory. */
async function everyCommand(a: { ova: string; ovf: string }, tag: string): Promise<Array<{ what: string; r: RunResult; out: string }>> {
  const runs: Array<{ what: string; args: (out: string) => string[] }> = [
    { what: 'ovf <ova>', args: (out) => ['ovf', a.ova, '-o', out, '--libvirt-xml'] },
    { what: 'ovf <ovf>', args: (out) => ['ovf', a.ovf, '-o', out, '--libvirt-xml'] },
    { what: 'convert <ova>', args: (out) => ['convert', a.ova, '-o', join(out, 'disk.qcow2')] },
    { what: 'convert <ova>/disk1.vmdk', args: (out) => ['convert', `${a.ova}/disk1.vmdk`, '-o', join(out, 'disk.qcow2')] },
  ];
  const results = [];
  for (const run of runs) {
    const out = outDir(tag);
    results.push({ what: run.what, r: await runH2k(run.args(out)), out });
  }
  return results;
}

const LOLS = [
  '<!ENTITY lol "lol">',
  ...Array.from({ length: 8 }, (_, i) => `<!ENTITY lol${i + 2} "${`&lol${i === 0 ? '' : i + 1};`.repeat(10)}">`),
].join('\n  ');

describe('a descriptor with a DOCTYPE is refused by h2k ovf and h2k convert alike', () => {
  const cases = [
    { tag: 'billion-laughs', doctype: () => `<!DOCTYPE Envelope [\n  ${LOLS}\n]>`, name: '&lol9;', message: /declares a DOCTYPE with entities/ },
    { tag: 'xxe', doctype: () => `<!DOCTYPE Envelope [ <!ENTITY xxe SYSTEM "file://${bait}"> ]>`, name: '&xxe;', message: /DOCTYPE with entities/ },
    {
      tag: 'parameter-entity',
      doctype: () => `<!DOCTYPE Envelope [ <!ENTITY % p SYSTEM "file://${bait}"> %p; ]>`,
      name: 'hostile',
      message: /DOCTYPE with entities/,
    },
    { tag: 'external-dtd', doctype: () => `<!DOCTYPE Envelope SYSTEM "file://${bait}">`, name: 'hostile', message: /DOCTYPE with an external DTD/ },
    { tag: 'external-dtd-http', doctype: () => `<!DOCTYPE Envelope PUBLIC "-//x//y" "http://127.0.0.1:9/evil.dtd">`, name: 'hostile', message: /external DTD/ },
  ];
  for (const c of cases)
    it(`${c.tag}: exit 3, E_OVF_DOCTYPE naming the descriptor, nothing written, the bait never read`, async () => {
      const a = appliance(c.tag, descriptor(c.doctype(), c.name));
      for (const { what, r, out } of await everyCommand(a, c.tag)) {
        expect(r.code, `${what}: ${r.stderr}`).toBe(3);
        expect(r.stderr, what).toContain('[E_OVF_DOCTYPE]');
        expect(r.stderr, what).toMatch(c.message);
        expect(r.stderr, what).toMatch(/hostile\.ovf: line 2 declares/);
        expect(r.stderr, what).toMatch(/file: .*hostile\.ovf/);
        expect(readdirSync(out), what).toEqual([]);
        expect(`${r.stdout}${r.stderr}`, what).not.toContain(marker);
        expect(`${r.stdout}${r.stderr}`, what).not.toContain('lollol');
      }
    });

  it('the same appliance without the DOCTYPE converts through both commands (the refusal is the DOCTYPE)', async () => {
    const a = appliance('control', descriptor('', 'hostile'));
    const runs = await everyCommand(a, 'control');
    for (const { what, r } of runs) expect(r.code, `${what}: ${r.stderr}`).toBe(0);
    expect(qemuCompare(raw, 'raw', join(runs[0].out, 'hostile-disk1.qcow2'), 'qcow2').code).toBe(0);
  });
});

describe('a gzip member that inflates to no disk format', () => {
  it('is refused by h2k ovf and h2k convert with E_OVA_NO_DISK, not converted to an empty disk of the declared capacity', async () => {
    // 256 MiB of zeros (a ~250 KiB member), declared a 16 GiB gzip-compressed VMDK.
    const bomb: TarEntry = { name: 'disk1.vmdk', data: gzipSync(Buffer.alloc(256 * MiB), { level: 9 }) };
    const a = appliance('gzip-bomb', descriptor('', 'bomb', { gzip: true, capacityBytes: 16 * 1024 * MiB }), bomb);
    const runs = await everyCommand(a, 'bomb');
    for (const { what, r, out } of runs) {
      expect(r.code, `${what}: ${r.stderr}`).toBe(3);
      // A loose .ovf's files are not inflated: the gzip file beside it is no disk by content either.
      expect(r.stderr, what).toContain(what === 'ovf <ovf>' ? '[E_OVF_NOT_A_DISK]' : '[E_OVA_NO_DISK]');
      expect(readdirSync(out), what).toEqual([]);
    }
    expect(runs[1].r.stderr).toMatch(/hostile\.ovf: <File ovf:href="disk1\.vmdk"> \(disk vmdisk1\) is not a disk image: .*declared gzip-compressed/);
    expect(runs[0].r.stderr).toMatch(/disk1\.vmdk is not a disk image: its content \(gunzipped, 268435456 bytes\) matches no disk format/);
  });

  it('a gzip member named .img is still read as a raw disk (the OVA raw-disk convention)', async () => {
    const member: TarEntry = { name: 'disk1.img', data: gzipSync(readFileSync(raw)) };
    const a = appliance('gzip-img', descriptor('', 'rawdisk', { gzip: true, href: 'disk1.img' }), member);
    const out = outDir('gzip-img');
    const r = await runH2k(['ovf', a.ova, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(qemuCompare(raw, 'raw', join(out, 'rawdisk-disk1.qcow2'), 'qcow2').code).toBe(0);
  });

  it('a declared capacity that is not the disk\'s own size converts at the disk\'s size, with a warning', async () => {
    const a = appliance('capacity', descriptor('', 'capacity', { capacityBytes: 16 * 1024 * MiB }));
    const out = outDir('capacity');
    const r = await runH2k(['ovf', a.ova, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`h2k: warning: disk vmdisk1 (disk1.vmdk): the OVF declares ovf:capacity ${16 * 1024 * MiB} bytes but the disk's header says ${2 * MiB}`);
    expect(qemuCompare(raw, 'raw', join(out, 'capacity-disk1.qcow2'), 'qcow2').code).toBe(0);
    expect(qemuVirtualSize(join(out, 'capacity-disk1.qcow2'), 'qcow2')).toBe(2 * MiB);
    const j = await runH2k(['ovf', a.ova, '-o', outDir('capacity-json'), '--json']);
    expect((JSON.parse(j.stdout) as { warnings: string[] }).warnings).toHaveLength(1);
  });
});

describe('the manifest workflow gives the same verdicts', () => {
  it('manifest validate: a DOCTYPE is E_OVF_DOCTYPE, a gzip member that is no disk E_OVA_NO_DISK', async () => {
    const laughs = appliance('wf-laughs', descriptor(`<!DOCTYPE Envelope [\n  ${LOLS}\n]>`, '&lol9;'));
    const bomb = appliance(
      'wf-bomb',
      descriptor('', 'bomb', { gzip: true, capacityBytes: 16 * 1024 * MiB }),
      { name: 'disk1.vmdk', data: gzipSync(Buffer.alloc(64 * MiB), { level: 9 }) },
    );
    for (const [ova, code] of [[laughs.ova, 'E_OVF_DOCTYPE'], [bomb.ova, 'E_OVA_NO_DISK']] as const) {
      const manifest = join(dir, `wf-${code}.json`);
      writeFileSync(manifest, JSON.stringify({ version: '1.0', pipeline: { load: { source_type: 'ova', source_path: ova }, convert: {} } }));
      const out = outDir('wf');
      const r = await runH2k(['manifest', 'validate', manifest, '-o', out, '--json']);
      expect(r.code, r.stdout + r.stderr).toBe(3);
      expect(JSON.parse(r.stdout).manifests[0].problems[0], r.stdout).toMatchObject({ code });
      expect(readdirSync(out)).toEqual([]);
      expect(r.stdout + r.stderr).not.toContain(marker);
    }
  });
});
