// The addon's format table (native formats/format_registry.cpp) and the TypeScript lists derived
// from it: every disk format qemu-img writes is recognised by content under its table name, and
// each list (outputs, manifest source types, watch-folder extensions) is the table's. The
// container operations TypeScript takes from the addon: tar members (GNU tar as the oracle), .mf lines.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_EXTENSIONS, OUT_FORMATS } from '../src/config/daemon-schema.js';
import { loadAddon } from '../src/native/addon.js';
import { contentFormat, formatNamedBy, formats, outputFormats, ovaMembers, parseManifest } from '../src/native/formats.js';
import { OUTPUT_FORMATS, SOURCE_TYPES } from '../src/workflow/manifest-schema.js';
import { qemuImg } from './helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'h2k-format-table-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('format table', () => {
  it('names every format qemu-img writes as qemu-img does, by content', () => {
    const qemuName: Record<string, string> = { vmdk: 'vmdk', qcow2: 'qcow2', vhdx: 'vhdx', vdi: 'vdi', vhd: 'vpc', raw: 'raw' };
    const disks = formats().filter((f) => f.roles.includes('disk'));
    expect(disks.map((f) => f.name).sort()).toEqual(Object.keys(qemuName).sort());
    for (const f of disks) {
      const file = join(dir, `d${f.extensions[0]}`);
      qemuImg(['create', '-q', '-f', qemuName[f.name], file, '4M']);
      expect(loadAddon().detectFormat(file), file).toBe(f.name);
      expect(formatNamedBy(file)).toBe(f.probed ? f.name : '');
    }
  });

  it('every TypeScript list is the table', () => {
    const rows = formats();
    expect([...OUT_FORMATS].sort()).toEqual(rows.filter((f) => f.writable).map((f) => f.name).sort());
    expect(OUTPUT_FORMATS).toEqual(outputFormats());
    expect(OUTPUT_FORMATS[0]).toBe('qcow2');
    expect(SOURCE_TYPES).toEqual(expect.arrayContaining(['vmdk', 'vdi', 'qcow2', 'vhd', 'vhdx', 'raw', 'ova', 'ovf', 'ami']));
    expect([...DEFAULT_EXTENSIONS].sort()).toEqual(['.ami', '.img', '.ova', '.ovf', '.qcow2', '.raw', '.vdi', '.vhd', '.vhdx', '.vmdk']);
    expect(formatNamedBy('/x/snap.AVHDX')).toBe('vhdx');
  });
});

describe('container operations', () => {
  it('lists the members GNU tar wrote, long names included, at offsets holding their bytes', () => {
    const src = join(dir, 'tree');
    const long = `${'n'.repeat(120)}.vmdk`;
    mkdirSync(src);
    writeFileSync(join(src, 'vm.ovf'), '<Envelope/>');
    writeFileSync(join(src, long), Buffer.alloc(1536, 7));
    for (const format of ['gnu', 'pax']) {
      const ova = join(dir, `vm-${format}.ova`);
      execFileSync('tar', ['-cf', ova, `--format=${format}`, '-C', src, 'vm.ovf', long]);
      const listed = execFileSync('tar', ['-tf', ova], { encoding: 'utf8' }).trim().split('\n');
      const members = ovaMembers(ova);
      expect(members.map((m) => m.name)).toEqual(listed);
      const bytes = readFileSync(ova);
      expect(bytes.subarray(members[0].offset, members[0].offset + members[0].size).toString()).toBe('<Envelope/>');
      expect(bytes.subarray(members[1].offset, members[1].offset + members[1].size)).toEqual(Buffer.alloc(1536, 7));
      expect(contentFormat(ova)).toBe('ova');
    }
    writeFileSync(join(dir, 'not.ova'), Buffer.alloc(1024, 'x'));
    expect(() => ovaMembers(join(dir, 'not.ova'))).toThrowError(expect.objectContaining({ code: 'E_OVA_BAD_TAR' }));
  });

  it('reads .mf lines as exporters write them and refuses anything else', () => {
    // ovftool's 'SHA256(name)= hex' and VirtualBox's BSD-style 'SHA1 (name) = hex'
    const text = 'SHA256(vm.ovf)= AB12\r\n  SHA1 (disk 1.vmdk) = cd34 \n\nSHA512(x(2).vmdk)=ef\n';
    expect(parseManifest(text, 'vm.mf')).toEqual([
      { name: 'disk 1.vmdk', algorithm: 'SHA1', hex: 'cd34' },
      { name: 'vm.ovf', algorithm: 'SHA256', hex: 'ab12' },
      { name: 'x(2).vmdk', algorithm: 'SHA512', hex: 'ef' },
    ]);
    for (const bad of ['MD5(vm.ovf)= ab', 'SHA256(vm.ovf) ab', 'SHA256(vm.ovf)= xyz', 'garbage'])
      expect(() => parseManifest(bad, 'vm.mf'), bad).toThrowError(expect.objectContaining({ code: 'E_OVA_BAD_MANIFEST' }));
  });
});
