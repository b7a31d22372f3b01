// Sum-file lines: what md5sum / sha*sum / b2sum / xxhsum print (escaped names included) parses
// back with the right algorithm (or the right candidates, when untagged and of an ambiguous
// length), and formatting reproduces the tools' lines byte for byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatCheckedName, formatSumLine, parseSumLine, algorithmFromSumFileName } from '../src/hash/sum-file.js';
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

  it('lines of every tool: the tag decides, else the length, with every candidate of an ambiguous length', () => {
    const one = join(tmp.dir, 'one');
    writeFileSync(one, 'one');
    // [tool, args, candidates the line must yield]
    const cases: [string, string[], string[]][] = [
      ['md5sum', [], ['md5', 'xxh128']],
      ['md5sum', ['--tag'], ['md5']],
      ['sha1sum', [], ['sha1']],
      ['sha1sum', ['--tag'], ['sha1']],
      ['sha256sum', [], ['sha256']],
      ['sha256sum', ['--tag'], ['sha256']],
      ['sha512sum', [], ['sha512', 'blake2b']],
      ['sha512sum', ['--tag'], ['sha512']],
      ['b2sum', [], ['sha512', 'blake2b']],
      ['b2sum', ['--tag'], ['blake2b']],
      ['b2sum', ['-l', '512', '--tag'], ['blake2b']],
      ['xxhsum', ['-H0'], ['xxh32']],
      ['xxhsum', ['-H0', '--tag'], ['xxh32']],
      ['xxhsum', ['-H1'], ['xxh64', 'xxh3']],
      ['xxhsum', ['-H1', '--tag'], ['xxh64']],
      ['xxhsum', ['-H2'], ['md5', 'xxh128']],
      ['xxhsum', ['-H2', '--tag'], ['xxh128']],
      ['xxhsum', ['-H3'], ['xxh3']],
      ['xxhsum', ['-H3', '--tag'], ['xxh3']],
      ['xxh128sum', [], ['md5', 'xxh128']],
    ];
    for (const [tool, args, candidates] of cases) {
      const line = execFileSync(tool, [...args, 'one'], { cwd: tmp.dir, encoding: 'utf8' }).trimEnd();
      const parsed = parseSumLine(line);
      expect(parsed, `${tool} ${args.join(' ')}: ${line}`).toMatchObject({ name: 'one', candidates, algorithm: candidates[0] });
    }
  });

  it("xxhsum's GNU prefixes (XXH32_, XXH64_, XXH3_, XXH128_) name the algorithm; a prefix of the wrong length is refused", () => {
    expect(parseSumLine('XXH32_946b5bf9  f')).toMatchObject({ candidates: ['xxh32'] });
    expect(parseSumLine('XXH64_e4c191d091bd8853  f')).toMatchObject({ candidates: ['xxh64'] });
    expect(parseSumLine('XXH3_99fc819aaba2462a  f')).toMatchObject({ candidates: ['xxh3'] });
    expect(parseSumLine('XXH128_6bba86c7e069f56d5a10b435f1c8e49c  f')).toMatchObject({ candidates: ['xxh128'] });
    expect(parseSumLine('XXH3_6bba86c7e069f56d5a10b435f1c8e49c  f')).toBeUndefined();
    expect(parseSumLine('XXH64_e4c191d091bd8853  f', 'xxh3')).toBeUndefined(); // -a says otherwise
  });

  it('-a decides every line; the sum file name decides untagged lines of its length only', () => {
    const md5 = 'd41d8cd98f00b204e9800998ecf8427e  f';
    expect(parseSumLine(md5, 'xxh128')).toMatchObject({ candidates: ['xxh128'] });
    expect(parseSumLine(md5, { guess: 'xxh128' })).toMatchObject({ candidates: ['xxh128'] });
    expect(parseSumLine(md5, { guess: 'md5' })).toMatchObject({ candidates: ['md5'] });
    // A guess of another length leaves the line to its length; a tag beats the guess.
    expect(parseSumLine(md5, { guess: 'sha256' })).toMatchObject({ candidates: ['md5', 'xxh128'] });
    expect(parseSumLine('XXH3 (f) = 99fc819aaba2462a', { guess: 'md5' })).toMatchObject({ candidates: ['xxh3'] });
    expect(parseSumLine('XXH3 (f) = 99fc819aaba2462a', { algorithm: 'md5' })).toBeUndefined();
    // Lengths no supported algorithm has, and BLAKE2b of other lengths (b2sum -l 256).
    expect(parseSumLine('0123456789  f')).toBeUndefined();
    expect(parseSumLine(`BLAKE2b-256 (f) = ${'a'.repeat(64)}`)).toBeUndefined();
  });

  it('sum file names: MD5SUMS, SHA1SUMS, SHA512SUMS, B2SUMS, *.xxh32, *.xxh64, *.xxh3, *.xxh128', () => {
    const want: [string, string | undefined][] = [
      ['SHA1SUMS', 'sha1'],
      ['/x/SHA512SUMS', 'sha512'],
      ['SHA256SUMS', 'sha256'],
      ['B2SUMS', 'blake2b'],
      ['disk.b2', 'blake2b'],
      ['disk.blake2b', 'blake2b'],
      ['disk.xxh32', 'xxh32'],
      ['disk.xxh64', 'xxh64'],
      ['disk.xxh3', 'xxh3'],
      ['disk.xxh3_128', 'xxh128'],
      ['disk.xxh128', 'xxh128'],
      ['sums.md5', 'md5'],
      ['checksums.txt', undefined],
      ['b2b-notes', undefined],
    ];
    for (const [name, algo] of want) expect(algorithmFromSumFileName(name), name).toBe(algo);
  });

  it('xxh32, xxh64 and blake2b lines are formatted as xxhsum -H0/-H1 and b2sum print them, --tag included', () => {
    writeFileSync(join(tmp.dir, 'a b'), 'a b');
    const digestOf = (line: string) => /([0-9a-f]+)(?:  a b)?$/.exec(line.trimEnd())![1];
    for (const [algo, tool, args] of [
      ['xxh32', 'xxhsum', ['-H0']],
      ['xxh64', 'xxhsum', ['-H1']],
      ['blake2b', 'b2sum', []],
    ] as const) {
      for (const tag of [false, true]) {
        const line = execFileSync(tool, [...args, ...(tag ? ['--tag'] : []), 'a b'], { cwd: tmp.dir, encoding: 'utf8' }).trimEnd();
        expect(formatSumLine(algo, digestOf(line), 'a b', tag ? 'bsd' : 'auto')).toBe(line);
      }
    }
  });

  it('check output escapes a name only when it holds a newline, as md5sum -c does', () => {
    expect(formatCheckedName('back\\slash')).toBe('back\\slash');
    expect(formatCheckedName('cr\rx')).toBe('cr\rx');
    expect(formatCheckedName('new\nline')).toBe('\\new\\nline');
    expect(formatCheckedName('a\\b\nc')).toBe('\\a\\\\b\\nc');
  });
});
