// Sum-file lines: what md5sum / xxhsum print (escaped names included) parses back, and
// formatting reproduces the tools' lines byte for byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatSumLine, parseSumLine, algorithmFromSumFileName } from '../src/hash/sum-file.js';
import { parseSumFile } from '../src/hash/check-sums.js';
import { tempDir } from './helpers/fixtures.js';

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('sum-file');
});
afterAll(() => tmp.cleanup());

describe('sum lines', () => {
  it('names with backslash and newline round-trip exactly as md5sum escapes them', () => {
    const names = ['plain', 'with space', 'back\\slash', 'new\nline'];
    for (const n of names) writeFileSync(join(tmp.dir, n), n);
    for (const tag of [false, true]) {
      const out = execFileSync('md5sum', [...(tag ? ['--tag'] : []), ...names], { cwd: tmp.dir, encoding: 'utf8' });
      const lines = out.split('\n').filter(Boolean);
      expect(lines).toHaveLength(names.length);
      lines.forEach((line, i) => {
        const parsed = parseSumLine(line);
        expect(parsed?.name).toBe(names[i]);
        expect(parsed?.algorithm).toBe('md5');
        expect(formatSumLine('md5', parsed!.hex, names[i], tag ? 'bsd' : 'gnu')).toBe(line);
      });
    }
  });

  it('algorithm from tag, -a, file name, or digest length', () => {
    expect(parseSumLine('XXH3 (f) = 78af5f94892f3950')?.algorithm).toBe('xxh3');
    expect(parseSumLine('XXH3_78af5f94892f3950  f')?.algorithm).toBe('xxh3');
    expect(parseSumLine('06b05ab6733a618578af5f94892f3950  f')?.algorithm).toBe('md5');
    expect(parseSumLine('06b05ab6733a618578af5f94892f3950  f', 'xxh128')?.algorithm).toBe('xxh128');
    expect(parseSumLine('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad *f')).toMatchObject({ algorithm: 'sha256', name: 'f' });
    expect(parseSumLine('78af5f94892f3950  f', 'md5')).toBeUndefined(); // wrong length for -a
    expect(parseSumLine('SHA1 (f) = a9993e364706816aba3e25717850c26c9cd0d89d')).toMatchObject({ algorithm: 'sha1', name: 'f' });
    expect(parseSumLine('CRC32 (f) = 352441c2')).toBeUndefined();
    expect(parseSumLine('zz  f')).toBeUndefined();
    expect(algorithmFromSumFileName('/x/SHA256SUMS')).toBe('sha256');
    expect(algorithmFromSumFileName('disk.xxh128')).toBe('xxh128');
    expect(algorithmFromSumFileName('disk.xxh3')).toBe('xxh3');
    expect(algorithmFromSumFileName('MD5SUMS')).toBe('md5');
    const f = parseSumFile('d41d8cd98f00b204e9800998ecf8427e  a\n\n# comment\nbad line\r\n');
    expect(f.lines.map((l) => l.sum.name)).toEqual(['a']);
    expect(f.improperLines).toEqual([4]);
  });
});
