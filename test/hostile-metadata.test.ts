// Metadata that lies is refused, not silently trusted: each hostile image is built at test
// time from a valid qemu-img image (seeded data) by patching a few bytes, then `h2k convert`
// must exit 3 with the case's own E_ code, leave no output or .partial behind and leave the
// source byte-identical. What `qemu-img convert` does with the same file is recorded and
// printed as a table (README: "refused by h2k / accepted by qemu-img").
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { qemuImgStatus, tempDir } from './helpers/fixtures.js';
import { crc32c, writeDiffVhd } from './helpers/formats-fixtures.js';
import { MiB, patchFile, qemuImg, readAt, seededBytes, writeSparseRaw } from './helpers/vmdk-fixtures.js';

const tmp = tempDir('hostile');
const SIZE = 8 * MiB;
const base: Record<string, string> = {}; // valid images, never patched in place

// ---- byte helpers (big/little endian fields, checksums) ----
const be32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };
const be64 = (v: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64BE(v); return b; };
const le32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
const le64 = (v: bigint): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; };

/** VHD footer / dynamic header checksum: one's complement of the byte sum, field counted as 0. */
function fixVhdChecksum(path: string, at: number, len: number, sumAt: number): void {
  const b = readAt(path, at, len);
  let sum = 0;
  for (let i = 0; i < len; i++) if (i < sumAt || i >= sumAt + 4) sum = (sum + b[i]) >>> 0;
  patchFile(path, at + sumAt, be32(~sum >>> 0));
}

/** VHDX header (4 KiB) or region table (64 KiB): CRC-32C at offset 4 over the block with the field zeroed. */
function fixVhdxCrc(path: string, at: number, len: number): void {
  const b = readAt(path, at, len);
  b.writeUInt32LE(0, 4);
  patchFile(path, at + 4, le32(crc32c(b)));
}

/** VHDX region table 1 (at 192 KiB): offset of the BAT and metadata regions. */
function vhdxRegions(path: string): { bat: number; meta: number } {
  const t = readAt(path, 192 * 1024, 64 * 1024);
  const out = { bat: 0, meta: 0 };
  for (let i = 0; i < t.readUInt32LE(8); i++) {
    const e = 16 + i * 32;
    const off = Number(t.readBigUInt64LE(e + 16));
    if (t.readUInt32LE(e) === 0x2dc27766) out.bat = off; // BAT GUID data1
    if (t.readUInt32LE(e) === 0x8b7ca206) out.meta = off; // metadata GUID data1
  }
  return out;
}

// ---- cases ----
interface Case {
  title: string;
  build: (dir: string) => string; // writes the hostile source into dir, returns its path
  code: string;
  qemuFormat?: string; // also run qemu-img with -f <this>
  message?: RegExp;
}

let caseNo = 0;
/** A copy of a base image named `name` inside `dir`, with [offset, bytes] patches applied. */
function patched(dir: string, baseKey: string, name: string, patches: Array<[number, Buffer]> = []): string {
  const p = join(dir, name);
  copyFileSync(base[baseKey], p);
  for (const [off, bytes] of patches) patchFile(p, off, bytes);
  return p;
}

const cases: Case[] = [
  // 1. VHD truncated: footer copy at 0 says dynamic, the rest is gone (qemu reads short files as zeros).
  { title: 'VHD: a 700-byte file starting with the conectix footer', code: 'E_VHD_TRUNCATED', qemuFormat: 'vpc',
    build: (d) => { const p = patched(d, 'vhd', 'short.vhd'); truncateSync(p, 700); return p; } },
  { title: 'VHD: 300 bytes of a footer, named .bin (content decides, not the name)', code: 'E_VHD_TRUNCATED', qemuFormat: 'vpc',
    build: (d) => { const p = patched(d, 'vhd', 'short.bin'); truncateSync(p, 300); return p; } },
  { title: 'VHD: dynamic header (footer data_offset, +16) past EOF', code: 'E_VHD_TRUNCATED', qemuFormat: 'vpc',
    build: (d) => {
      const p = patched(d, 'vhd', 'hdr-eof.vhd');
      const size = statSync(p).size;
      for (const at of [0, size - 512]) { // both footer copies: data_offset at +16, checksum at +64
        patchFile(p, at + 16, be64(BigInt(size + 4096)));
        fixVhdChecksum(p, at, 512, 64);
      }
      return p;
    } },
  { title: 'VHD: BAT (dynamic header +16) past EOF', code: 'E_VHD_TRUNCATED', qemuFormat: 'vpc',
    build: (d) => {
      const p = patched(d, 'vhd', 'bat-eof.vhd');
      patchFile(p, 512 + 16, be64(BigInt(statSync(p).size + 65536))); // dynamic header at 512: BAT offset
      fixVhdChecksum(p, 512, 1024, 36);
      return p;
    } },
  { title: 'VHD: BAT entry 0 points at the BAT itself', code: 'E_VHD_BAT_OVERLAP', qemuFormat: 'vpc',
    build: (d) => {
      const p = patched(d, 'vhd', 'bat-self.vhd');
      const bat = Number(readAt(p, 512 + 16, 8).readBigUInt64BE()); // BAT offset from the dynamic header
      patchFile(p, bat, be32(bat / 512)); // entry 0 = the BAT's own sector
      return p;
    } },
  { title: 'VHD: BAT entry 0 points at the footer copy (sector 0)', code: 'E_VHD_BAT_OVERLAP', qemuFormat: 'vpc',
    build: (d) => {
      const p = patched(d, 'vhd', 'bat-footer.vhd');
      patchFile(p, Number(readAt(p, 512 + 16, 8).readBigUInt64BE()), be32(0));
      return p;
    } },
  { title: 'VHD: BAT entries 0 and 1 share a block', code: 'E_VHD_BAT_SHARED', qemuFormat: 'vpc',
    build: (d) => {
      const p = patched(d, 'vhd', 'bat-shared.vhd');
      const bat = Number(readAt(p, 512 + 16, 8).readBigUInt64BE());
      patchFile(p, bat + 4, readAt(p, bat, 4)); // entry 1 = entry 0
      return p;
    } },
  { title: 'VHD: differencing disk whose BAT entry 0 points at its parent locator', code: 'E_VHD_BAT_OVERLAP', qemuFormat: 'vpc',
    message: /block 0 \(bytes \d+\.\.\d+\) overlaps parent locator 0/,
    build: (d) => {
      const parent = patched(d, 'vhd', 'parent.vhd');
      const child = join(d, 'child.vhd');
      writeDiffVhd(child, parent, [{ offset: 0, data: seededBytes(512, 9) }]);
      const bat = Number(readAt(child, 512 + 16, 8).readBigUInt64BE());
      const locator = Number(readAt(child, 512 + 576 + 16, 8).readBigUInt64BE()); // locator 0: data offset at +16
      patchFile(child, bat, be32(locator / 512));
      return child;
    } },
  // 2. VHDX: header area 0..1 MiB, log (header +72/+68), BAT and metadata regions.
  { title: 'VHDX: BAT entry 0 points into the metadata region', code: 'E_VHDX_BAT_OVERLAP', qemuFormat: 'vhdx',
    build: (d) => {
      const p = patched(d, 'vhdx', 'bat-meta.vhdx');
      const r = vhdxRegions(p);
      patchFile(p, r.bat, le64(BigInt(r.meta) | 6n)); // payload block 0: FULLY_PRESENT at the metadata region
      return p;
    } },
  { title: 'VHDX: BAT entry 0 points into the log', code: 'E_VHDX_BAT_OVERLAP', qemuFormat: 'vhdx',
    build: (d) => {
      const p = patched(d, 'vhdx', 'bat-log.vhdx');
      const logOffset = readAt(p, 64 * 1024 + 72, 8).readBigUInt64LE(); // header 1: LogOffset
      patchFile(p, vhdxRegions(p).bat, le64(logOffset | 6n));
      return p;
    } },
  { title: 'VHDX: BAT entries 0 and 1 share a block', code: 'E_VHDX_BAT_SHARED', qemuFormat: 'vhdx',
    build: (d) => {
      const p = patched(d, 'vhdx', 'bat-shared.vhdx');
      const bat = vhdxRegions(p).bat;
      patchFile(p, bat + 8, readAt(p, bat, 8)); // 1 MiB blocks: entry 1 is payload block 1
      return p;
    } },
  { title: 'VHDX: the log (both headers, +72) placed over the BAT region', code: 'E_VHDX_REGION_OVERLAP', qemuFormat: 'vhdx',
    build: (d) => {
      const p = patched(d, 'vhdx', 'log-bat.vhdx');
      const bat = vhdxRegions(p).bat;
      for (const at of [64 * 1024, 128 * 1024]) {
        patchFile(p, at + 72, le64(BigInt(bat)));
        fixVhdxCrc(p, at, 4096);
      }
      return p;
    } },
  // 3. VDI: header 0..72+cbHeader, block map at offBlocks (340), data at offData (344).
  { title: 'VDI: offData moved onto the block map (blocks overlap it)', code: 'E_VDI_BLOCK_OVERLAP', qemuFormat: 'vdi',
    build: (d) => {
      const p = patched(d, 'vdi', 'data-map.vdi');
      patchFile(p, 344, readAt(p, 340, 4)); // offData = offBlocks
      return p;
    } },
  { title: 'VDI: offData moved into the header', code: 'E_VDI_BLOCK_OVERLAP', qemuFormat: 'vdi',
    build: (d) => patched(d, 'vdi', 'data-hdr.vdi', [[344, le32(0)]]) },
  { title: 'VDI: two block-map entries name the same data block', code: 'E_VDI_BAD_BLOCK_MAP', qemuFormat: 'vdi',
    build: (d) => {
      const p = patched(d, 'vdi', 'dup.vdi');
      const map = readAt(p, 340, 4).readUInt32LE();
      patchFile(p, map + 4, readAt(p, map, 4)); // entry 1 = entry 0
      return p;
    } },
  { title: 'VDI: truncated file (allocated blocks past EOF)', code: 'E_VDI_BAD_BLOCK_MAP', qemuFormat: 'vdi',
    build: (d) => {
      const p = patched(d, 'vdi', 'trunc.vdi');
      truncateSync(p, readAt(p, 344, 4).readUInt32LE() + MiB / 2); // half of the first data block
      return p;
    } },
  { title: 'VDI: cBlocks (384) far beyond the file (block map 256 MiB)', code: 'E_VDI_BAD_BLOCK_MAP', qemuFormat: 'vdi',
    build: (d) => patched(d, 'vdi', 'map-huge.vdi', [[384, le32(1 << 26)]]) },
  // 4. qcow2 (4 KiB clusters so the 8 MiB disk has 4 L2 tables): header fields l1_size 36,
  //    l1_table_offset 40, refcount_table_offset 48, refcount_table_clusters 56, nb_snapshots 60, snapshots_offset 64.
  { title: 'qcow2: L1 table moved onto the header', code: 'E_QCOW2_OVERLAP', qemuFormat: 'qcow2',
    build: (d) => patched(d, 'qcow2', 'l1-hdr.qcow2', [[40, be64(0n)]]) },
  { title: 'qcow2: L1 table moved onto the refcount table', code: 'E_QCOW2_OVERLAP', qemuFormat: 'qcow2',
    build: (d) => { const p = patched(d, 'qcow2', 'l1-rt.qcow2'); patchFile(p, 40, readAt(p, 48, 8)); return p; } },
  { title: 'qcow2: L1 entries 0 and 1 share one L2 table', code: 'E_QCOW2_OVERLAP', qemuFormat: 'qcow2',
    build: (d) => {
      const p = patched(d, 'qcow2', 'l2-shared.qcow2');
      const l1 = Number(readAt(p, 40, 8).readBigUInt64BE());
      patchFile(p, l1 + 8, readAt(p, l1, 8));
      return p;
    } },
  { title: 'qcow2: an L2 table placed on the L1 table', code: 'E_QCOW2_OVERLAP', qemuFormat: 'qcow2',
    build: (d) => {
      const p = patched(d, 'qcow2', 'l2-l1.qcow2');
      const l1 = readAt(p, 40, 8).readBigUInt64BE();
      patchFile(p, Number(l1), be64(l1 | (1n << 63n))); // L1[0] = the L1 table's own cluster, COPIED
      return p;
    } },
  { title: 'qcow2: a data cluster pointing into the L1 table', code: 'E_QCOW2_DATA_OVERLAP', qemuFormat: 'qcow2',
    build: (d) => {
      const p = patched(d, 'qcow2', 'data-l1.qcow2');
      const l1 = readAt(p, 40, 8).readBigUInt64BE();
      const l2 = Number(readAt(p, Number(l1), 8).readBigUInt64BE() & 0x00fffffffffffe00n);
      patchFile(p, l2, be64(l1 | (1n << 63n))); // guest cluster 0 -> the L1 table
      return p;
    } },
  { title: 'qcow2: refcount table offset past EOF', code: 'E_QCOW2_PAST_EOF', qemuFormat: 'qcow2',
    build: (d) => { const p = patched(d, 'qcow2', 'rt-eof.qcow2'); patchFile(p, 48, be64(BigInt(Math.ceil(statSync(p).size / 4096) * 4096 + 16 * 4096))); return p; } },
  { title: 'qcow2: refcount_table_clusters far beyond the file', code: 'E_QCOW2_PAST_EOF', qemuFormat: 'qcow2',
    build: (d) => patched(d, 'qcow2', 'rt-huge.qcow2', [[56, be32(0x00ffffff)]]) },
  { title: 'qcow2: l1_size far beyond the file (4,000,000 entries)', code: 'E_QCOW2_PAST_EOF', qemuFormat: 'qcow2',
    build: (d) => patched(d, 'qcow2', 'l1-huge.qcow2', [[36, be32(4_000_000)]]) },
  { title: 'qcow2: snapshot table past EOF', code: 'E_QCOW2_PAST_EOF', qemuFormat: 'qcow2',
    build: (d) => { const p = patched(d, 'qcow2', 'snap-eof.qcow2'); patchFile(p, 60, be32(3)); patchFile(p, 64, be64(BigInt(Math.ceil(statSync(p).size / 4096) * 4096 + 4096))); return p; } },
  // 7. VMDK descriptor with a createType nobody writes.
  { title: 'VMDK: unknown createType in a monolithicFlat descriptor', code: 'E_VMDK_UNKNOWN_CREATE_TYPE', qemuFormat: 'vmdk',
    message: /unknown createType 'fancySparse'.*/,
    build: (d) => {
      copyFileSync(base['flat-extent'], join(d, 'disk-flat.vmdk'));
      const text = readFileSync(base.flat, 'utf8').replace(/createType="[^"]*"/, 'createType="fancySparse"').replace(/"[^"]*-flat\.vmdk"/, '"disk-flat.vmdk"');
      writeFileSync(join(d, 'disk.vmdk'), text);
      return join(d, 'disk.vmdk');
    } },
  // 6. The name promises a format the bytes are not.
  { title: 'mismatch: random bytes named .vmdk', code: 'E_FORMAT_MISMATCH', qemuFormat: 'vmdk',
    message: /random\.vmdk is not a VMDK: no descriptor or sparse magic/,
    build: (d) => { const p = join(d, 'random.vmdk'); writeFileSync(p, seededBytes(256 * 1024, 11)); return p; } },
  { title: 'mismatch: a text file named .vhd', code: 'E_FORMAT_MISMATCH', qemuFormat: 'vpc',
    build: (d) => { const p = join(d, 'notes.vhd'); writeFileSync(p, 'not a disk\n'.repeat(400)); return p; } },
  { title: 'mismatch: a qcow2 named .vmdk', code: 'E_FORMAT_MISMATCH', qemuFormat: 'vmdk', message: /its content is qcow2/,
    build: (d) => patched(d, 'qcow2', 'really-qcow2.vmdk') },
  { title: 'mismatch: a 3-byte qcow2 header named .qcow2', code: 'E_FORMAT_MISMATCH', qemuFormat: 'qcow2',
    build: (d) => { const p = join(d, 'stub.qcow2'); writeFileSync(p, readAt(base.qcow2, 0, 3)); return p; } },
  { title: 'mismatch: random bytes named .vdi', code: 'E_FORMAT_MISMATCH', qemuFormat: 'vdi',
    build: (d) => { const p = join(d, 'x.vdi'); writeFileSync(p, seededBytes(64 * 1024, 12)); return p; } },
  { title: 'mismatch: random bytes named .vhdx', code: 'E_FORMAT_MISMATCH', qemuFormat: 'vhdx',
    build: (d) => { const p = join(d, 'x.vhdx'); writeFileSync(p, seededBytes(64 * 1024, 13)); return p; } },
  { title: 'mismatch: a text file named .ova', code: 'E_FORMAT_MISMATCH',
    build: (d) => { const p = join(d, 'vm.ova'); writeFileSync(p, '<Envelope/>\n'.repeat(100)); return p; } },
  { title: 'mismatch: a -flat.vmdk extent opened without its descriptor', code: 'E_FORMAT_MISMATCH', qemuFormat: 'vmdk',
    message: /open the descriptor disk\.vmdk that names this extent/,
    build: (d) => { const p = join(d, 'disk-flat.vmdk'); copyFileSync(base['flat-extent'], p); return p; } },
];

interface Verdict { title: string; h2k: string; qemuAuto: string; qemuExplicit: string }
const verdicts: Verdict[] = [];

function qemuVerdict(src: string, format?: string): string {
  const out = join(tmp.dir, 'qemu-out.raw');
  const r = qemuImgStatus(['convert', ...(format ? ['-f', format] : []), '-O', 'raw', src, out]);
  rmSync(out, { force: true });
  if (r.code === 0) return 'accepts';
  const why = r.out.trim().split('\n').pop() ?? '';
  return `refuses (${why.replace(/^qemu-img: /, '').split(`${dirname(src)}/`).join('').slice(0, 90)})`;
}

const sha256 = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

beforeAll(() => {
  const text = Buffer.from('h2k hostile metadata test. '.repeat(40000)).subarray(0, MiB);
  const raw = writeSparseRaw(join(tmp.dir, 'src.raw'), SIZE, [
    { offset: 0, bytes: text },
    { offset: MiB + MiB / 2, bytes: seededBytes(512 * 1024, 1) },
    { offset: 3 * MiB + 4096, bytes: seededBytes(64 * 1024, 2) },
    { offset: 5 * MiB, bytes: seededBytes(256 * 1024, 3) },
    { offset: SIZE - 4096, bytes: seededBytes(4096, 4) },
  ]);
  const conv = (fmt: string, opts: string[], name: string): string => {
    const out = join(tmp.dir, name);
    qemuImg(['convert', '-q', '-f', 'raw', '-O', fmt, ...(opts.length ? ['-o', opts.join(',')] : []), raw, out]);
    return out;
  };
  base.vhd = conv('vpc', ['subformat=dynamic'], 'base.vhd');
  base['vhd-fixed'] = conv('vpc', ['subformat=fixed'], 'base-fixed.vhd');
  base.vhdx = conv('vhdx', ['block_size=1048576'], 'base.vhdx');
  base.vdi = conv('vdi', [], 'base.vdi');
  base.qcow2 = conv('qcow2', ['cluster_size=4096'], 'base.qcow2');
  base.flat = conv('vmdk', ['subformat=monolithicFlat'], 'base-mf.vmdk');
  base['flat-extent'] = join(tmp.dir, 'base-mf-flat.vmdk');
  base.raw = raw;
});

afterAll(() => {
  const rows = verdicts.map((v) => `| ${v.title} | ${v.h2k} | ${v.qemuAuto} | ${v.qemuExplicit} |`);
  console.log(['', '| hostile case | h2k convert | qemu-img convert (probe) | qemu-img convert -f <fmt> |', '|---|---|---|---|', ...rows].join('\n'));
  tmp.cleanup();
});

describe('hostile metadata is refused with its own code, nothing written, source untouched', () => {
  for (const c of cases) {
    it(c.title, async () => {
      const dir = join(tmp.dir, `case-${caseNo++}`);
      mkdirSync(dir);
      const src = c.build(dir);
      const before = readdirSync(dir).sort();
      const digest = sha256(src);
      const out = join(dir, 'out.qcow2');
      const r = await runH2k(['convert', src, '-o', out]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`[${c.code}]`);
      if (c.message) expect(r.stderr).toMatch(c.message);
      expect(r.stderr).toMatch(/\(byte offset \d+\)/); // where
      expect(r.stderr).toMatch(/hint: /); // what to do
      expect(readdirSync(dir).sort()).toEqual(before); // no output, no .partial
      expect(sha256(src)).toBe(digest);
      verdicts.push({
        title: c.title,
        h2k: `refuses ${c.code}`,
        qemuAuto: qemuVerdict(src),
        qemuExplicit: c.qemuFormat ? qemuVerdict(src, c.qemuFormat) : '-',
      });
    });
  }
});

describe('what real products write is still accepted', () => {
  it('a fixed VHD with a 511-byte footer (Virtual PC before 2004) converts like the 512-byte one', async () => {
    const dir = join(tmp.dir, 'vpc511');
    mkdirSync(dir);
    const src = join(dir, 'old.vhd');
    copyFileSync(base['vhd-fixed'], src);
    truncateSync(src, statSync(src).size - 1); // the last footer byte is reserved (zero)
    const out = join(dir, 'old.raw');
    const r = await runH2k(['convert', src, '-O', 'raw', '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(out).subarray(0, SIZE).equals(readFileSync(base.raw))).toBe(true);
  });

  it('content decides: a qcow2 named .img converts; random bytes named .vmdk convert with -f raw', async () => {
    const dir = join(tmp.dir, 'named');
    mkdirSync(dir);
    const img = join(dir, 'disk.img');
    copyFileSync(base.qcow2, img);
    const a = await runH2k(['convert', img, '-O', 'raw', '-o', join(dir, 'a.raw')]);
    expect(a.code, a.stderr).toBe(0);
    expect(readFileSync(join(dir, 'a.raw')).equals(readFileSync(base.raw))).toBe(true);
    const vmdk = join(dir, 'random.vmdk');
    writeFileSync(vmdk, seededBytes(64 * 1024, 11));
    const b = await runH2k(['convert', vmdk, '-f', 'raw', '-O', 'raw', '-o', join(dir, 'b.raw')]);
    expect(b.code, b.stderr).toBe(0);
    expect(readFileSync(join(dir, 'b.raw')).equals(readFileSync(vmdk))).toBe(true);
  });

  it('a manifest saying source_type raw reads a raw disk named .vmdk; source_type vmdk is a mismatch', async () => {
    const dir = join(tmp.dir, 'manifest');
    mkdirSync(dir);
    mkdirSync(join(dir, 'out'));
    writeFileSync(join(dir, 'disk.vmdk'), seededBytes(64 * 1024, 14));
    const manifest = (type: string): string => {
      const f = join(dir, `${type}.yaml`);
      writeFileSync(f, `version: "1.0"\npipeline:\n  load: {source_type: ${type}, source_path: disk.vmdk}\n  convert: {}\n`);
      return f;
    };
    const ok = await runH2k(['manifest', 'validate', manifest('raw'), '-o', join(dir, 'out')]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const bad = await runH2k(['manifest', 'validate', manifest('vmdk'), '-o', join(dir, 'out'), '--json']);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toContain('E_FORMAT_MISMATCH');
  });
});
