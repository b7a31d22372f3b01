// The addon's format table (native formats/format_registry.cpp) and the TypeScript lists derived
// from it: every disk format qemu-img writes is recognised by content under its table name, and
// each list (outputs, manifest source types, watch-folder extensions) is the table's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_EXTENSIONS, OUT_FORMATS } from '../src/config/daemon-schema.js';
import { loadAddon } from '../src/native/addon.js';
import { formatNamedBy, formats, outputFormats } from '../src/native/formats.js';
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
