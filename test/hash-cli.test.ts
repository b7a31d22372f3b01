// `h2k hash` end to end: output byte-compatible with md5sum/sha256sum/xxhsum, --check like
// `md5sum -c` (FAILED + non-zero exit), content hashes equal across container formats and
// equal to the hash of `qemu-img convert -O raw`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, runH2k } from './helpers/cli.js';
import { makeSeededRaw, qemuImg, tempDir, toVmdk } from './helpers/fixtures.js';
import { toolDigest } from './helpers/hash-oracles.js';

let tmp: ReturnType<typeof tempDir>;
const files = ['empty', 'one', 'a b.bin', 'big.bin'];

beforeAll(() => {
  tmp = tempDir('hash-cli');
  writeFileSync(join(tmp.dir, 'empty'), '');
  writeFileSync(join(tmp.dir, 'one'), 'x');
  writeFileSync(join(tmp.dir, 'a b.bin'), Buffer.from('name with a space\n'));
  makeSeededRaw(join(tmp.dir, 'big.bin'), 3, 5);
});
afterAll(() => tmp.cleanup());

const tool = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { cwd: tmp.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

describe('output lines', () => {
  it('md5 (default), sha256, sha1, sha512 and xxh128 lines are byte-identical to md5sum, sha256sum, sha1sum, sha512sum, xxhsum -H2', async () => {
    for (const [args, cmd, cargs] of [
      [[], 'md5sum', []],
      [['-a', 'sha256'], 'sha256sum', []],
      [['-a', 'sha1'], 'sha1sum', []],
      [['-a', 'sha512'], 'sha512sum', []],
      [['-a', 'xxh128'], 'xxhsum', ['-H2']],
    ] as [string[], string, string[]][]) {
      const r = await runH2k(['hash', ...args, ...files], { cwd: tmp.dir });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(tool(cmd, [...cargs, ...files]));
    }
  });

  it('xxh3 lines are what xxhsum -H3 prints (BSD style), --untagged gives <hex>  <name>', async () => {
    const r = await runH2k(['hash', '-a', 'xxh3', ...files], { cwd: tmp.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(tool('xxhsum', ['-H3', ...files]));
    const u = await runH2k(['hash', '-a', 'xxh3', '--untagged', 'one'], { cwd: tmp.dir });
    expect(u.stdout).toBe(`${toolDigest('xxh3', join(tmp.dir, 'one'))}  one\n`);
  });

  it('--tag matches md5sum --tag; several algorithms in one pass; stdin as -', async () => {
    const t = await runH2k(['hash', '--tag', 'one', 'big.bin'], { cwd: tmp.dir });
    expect(t.stdout).toBe(tool('md5sum', ['--tag', 'one', 'big.bin']));
    const m = await runH2k(['hash', '-a', 'md5,sha256', 'big.bin'], { cwd: tmp.dir });
    expect(m.stdout.split('\n')).toEqual([...tool('md5sum', ['big.bin']).split('\n').slice(0, 1), ...tool('sha256sum', ['big.bin']).split('\n')]);
    const s = await runH2k(['hash', '-'], { cwd: tmp.dir, input: 'hello\n' });
    expect(s.stdout).toBe('b1946ac92492d2347c6235b4d2611184  -\n');
  });

  it('--json carries every digest and byte counts', async () => {
    const r = await runH2k(['hash', '--json', '-a', 'md5', '-a', 'xxh3', 'big.bin', 'one'], { cwd: tmp.dir });
    const out = JSON.parse(r.stdout) as { results: { file: string; bytes: number; digests: Record<string, string> }[] };
    expect(out.results.map((x) => x.file)).toEqual(['big.bin', 'one']);
    expect(out.results[0].bytes).toBe(3 * 1024 * 1024);
    expect(out.results[0].digests.md5).toBe(toolDigest('md5', join(tmp.dir, 'big.bin')));
    expect(out.results[0].digests.xxh3).toBe(toolDigest('xxh3', join(tmp.dir, 'big.bin')));
  });

  it('a missing file: error on stderr with its code, the others still hashed, non-zero exit', async () => {
    const r = await runH2k(['hash', 'one', 'missing'], { cwd: tmp.dir });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe(tool('md5sum', ['one']));
    expect(r.stderr).toContain('E_NOT_FOUND');
  });

  it('bad usage exits 2', async () => {
    expect((await runH2k(['hash', '-a', 'crc32', 'one'], { cwd: tmp.dir })).code).toBe(2);
    expect((await runH2k(['hash'], { cwd: tmp.dir })).code).toBe(2);
  });
});

describe('--check', () => {
  it('verifies sum files written by md5sum, sha256sum and xxhsum (-H3 and -H2)', async () => {
    writeFileSync(join(tmp.dir, 'SUMS.md5'), tool('md5sum', files));
    writeFileSync(join(tmp.dir, 'SUMS.sha256'), tool('sha256sum', files));
    writeFileSync(join(tmp.dir, 'sums.xxh3'), tool('xxhsum', ['-H3', ...files]));
    writeFileSync(join(tmp.dir, 'sums.xxh128'), tool('xxhsum', ['-H2', ...files]));
    for (const sums of ['SUMS.md5', 'SUMS.sha256', 'sums.xxh3', 'sums.xxh128']) {
      const r = await runH2k(['hash', '--check', sums], { cwd: tmp.dir });
      expect(r.code, `${sums}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toBe(files.map((f) => `${f}: OK\n`).join(''));
    }
  });

  it('its own output is accepted by md5sum -c and xxhsum -c', async () => {
    writeFileSync(join(tmp.dir, 'own.md5'), (await runH2k(['hash', ...files], { cwd: tmp.dir })).stdout);
    writeFileSync(join(tmp.dir, 'own.xxh3'), (await runH2k(['hash', '-a', 'xxh3', ...files], { cwd: tmp.dir })).stdout);
    expect((await runCommand('md5sum', ['-c', 'own.md5'], { cwd: tmp.dir })).code).toBe(0);
    expect((await runCommand('xxhsum', ['-c', 'own.xxh3'], { cwd: tmp.dir })).code).toBe(0);
  });

  it('a modified file is FAILED and the exit code is non-zero; missing and malformed lines are reported', async () => {
    const dir = tempDir('hash-check');
    try {
      writeFileSync(join(dir.dir, 'f1'), 'one');
      writeFileSync(join(dir.dir, 'f2'), 'two');
      writeFileSync(join(dir.dir, 'sums'), tool('md5sum', [join(dir.dir, 'f1'), join(dir.dir, 'f2')]));
      appendFileSync(join(dir.dir, 'f2'), '!');
      const r = await runH2k(['hash', '-c', join(dir.dir, 'sums')]);
      expect(r.code).toBe(1);
      // An untagged 32-digit line may be MD5 or XXH128: the OK says which one matched.
      expect(r.stdout).toBe(`${join(dir.dir, 'f1')}: OK\n${join(dir.dir, 'f2')}: FAILED\n`);
      expect(r.stderr).toContain('1 computed checksum did NOT match');
      // md5sum agrees with the verdict.
      expect((await runCommand('md5sum', ['-c', join(dir.dir, 'sums')])).code).toBe(1);

      appendFileSync(join(dir.dir, 'sums'), `d41d8cd98f00b204e9800998ecf8427e  ${join(dir.dir, 'gone')}\nnot a checksum line\n`);
      const m = await runH2k(['hash', '-c', join(dir.dir, 'sums'), '--quiet']);
      expect(m.code).toBe(1);
      expect(m.stdout).toBe(`${join(dir.dir, 'f2')}: FAILED\n${join(dir.dir, 'gone')}: FAILED open or read\n`);
      expect(m.stderr).toContain('1 line is improperly formatted');
      expect(m.stderr).toContain('1 listed file could not be read');
      // --status as md5sum's: no verdicts or warnings, but why a file could not be read.
      const st = await runH2k(['hash', '-c', join(dir.dir, 'sums'), '--status']);
      expect(st.code).toBe(1);
      expect(st.stdout).toBe('');
      expect(st.stderr).toBe(`h2k: ${join(dir.dir, 'gone')}: No such file or directory\n`);

      writeFileSync(join(dir.dir, 'junk'), 'nothing here\n');
      const j = await runH2k(['hash', '-c', join(dir.dir, 'junk')]);
      expect(j.code).toBe(1);
      expect(j.stderr).toContain('no properly formatted checksum lines found');
    } finally {
      dir.cleanup();
    }
  });
});

// Every algorithm, with the tool that prints and checks its lines.
const ORACLES: { algo: string; tool: string; args: string[]; checker: string }[] = [
  { algo: 'md5', tool: 'md5sum', args: [], checker: 'md5sum' },
  { algo: 'sha1', tool: 'sha1sum', args: [], checker: 'sha1sum' },
  { algo: 'sha256', tool: 'sha256sum', args: [], checker: 'sha256sum' },
  { algo: 'sha512', tool: 'sha512sum', args: [], checker: 'sha512sum' },
  { algo: 'blake2b', tool: 'b2sum', args: [], checker: 'b2sum' },
  { algo: 'xxh32', tool: 'xxhsum', args: ['-H0'], checker: 'xxhsum' },
  { algo: 'xxh64', tool: 'xxhsum', args: ['-H1'], checker: 'xxhsum' },
  { algo: 'xxh128', tool: 'xxh128sum', args: [], checker: 'xxh128sum' },
  { algo: 'xxh3', tool: 'xxhsum', args: ['-H3'], checker: 'xxhsum' },
];
/** Untagged lines of these share their length with the classic tool's own algorithm (md5sum,
 *  xxhsum -H1, sha512sum): --check says which matched when it was not that one. */
const AMBIGUOUS_UNTAGGED = new Set(['xxh128', 'xxh3', 'blake2b']);
const UNTAGGED = /^\\?[0-9a-f]+ [ *]/;
const okLine = (name: string, algo: string, line: string) =>
  `${name}: OK${UNTAGGED.test(line) && AMBIGUOUS_UNTAGGED.has(algo) ? ` (${algo})` : ''}\n`;

/** The line with the last digit of its digest changed. */
function flipDigit(line: string): string {
  const m = /^(.*= [0-9a-f]*)([0-9a-f])$/.exec(line) ?? /^(\\?(?:XXH\d+_)?[0-9a-f]*)([0-9a-f])( [ *].*)$/.exec(line);
  if (!m) throw new Error(`no digest in ${line}`);
  return `${m[1]}${m[2] === '0' ? '1' : '0'}${m[3] ?? ''}`;
}

describe('new algorithms and sum files of every tool', () => {
  it('xxh32, xxh64 and blake2b lines are byte-identical to xxhsum -H0, xxhsum -H1 and b2sum, with and without --tag', async () => {
    for (const { algo, tool: cmd, args } of ORACLES.filter((o) => ['xxh32', 'xxh64', 'blake2b'].includes(o.algo))) {
      for (const tag of [[], ['--tag']]) {
        const r = await runH2k(['hash', '-a', algo, ...tag, ...files], { cwd: tmp.dir });
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout, `${algo} ${tag.join('')}`).toBe(tool(cmd, [...args, ...tag, ...files]));
      }
    }
  });

  it("h2k's own lines of every algorithm, GNU and --tag, pass the real tool's -c and its own --check", async () => {
    const algos = ORACLES.map((o) => o.algo);
    const all: string[] = [];
    for (const tag of [[], ['--tag']]) {
      // One pass per style: the lines come file by file, each file's in -a order.
      const r = await runH2k(['hash', '-a', algos.join(','), ...tag, ...files], { cwd: tmp.dir });
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.split('\n').slice(0, -1);
      expect(lines).toHaveLength(algos.length * files.length);
      for (const [k, { algo, checker }] of ORACLES.entries()) {
        const own = files.map((_, i) => lines[i * algos.length + k]);
        const sums = `own-${algo}${tag.length ? '-tag' : ''}`;
        writeFileSync(join(tmp.dir, sums), own.map((l) => `${l}\n`).join(''));
        const c = await runCommand(checker, ['-c', sums], { cwd: tmp.dir });
        expect(c.code, `${checker} -c ${sums}: ${c.stdout}${c.stderr}`).toBe(0);
        expect(c.stdout).toBe(files.map((f) => `${f}: OK\n`).join(''));
        all.push(...own);
      }
    }
    // Every line in one file, checked by h2k: each by its tag, else by its length.
    writeFileSync(join(tmp.dir, 'own-all'), all.map((l) => `${l}\n`).join(''));
    const c = await runH2k(['hash', '--check', 'own-all'], { cwd: tmp.dir });
    expect(c.code, c.stderr).toBe(0);
    const algoOf = (i: number) => ORACLES[Math.floor(i / files.length) % ORACLES.length].algo;
    expect(c.stdout).toBe(all.map((l, i) => okLine(files[i % files.length], algoOf(i), l)).join(''));
  });

  it('sum files of md5sum, sha*sum, b2sum, xxhsum -H0..-H3 and xxh128sum, with and without --tag: OK, and a changed digit FAILED with exit 1', async () => {
    const makers = [...ORACLES.map((o) => ({ ...o, tag: [] as string[] })), ...ORACLES.map((o) => ({ ...o, tag: ['--tag'] }))];
    makers.push({ algo: 'xxh128', tool: 'xxhsum', args: ['-H2'], checker: 'xxhsum', tag: [] });
    for (const { algo, tool: cmd, args, checker, tag } of makers) {
      const label = `${cmd} ${[...args, ...tag].join(' ')}`;
      const lines = tool(cmd, [...args, ...tag, ...files]).split('\n').slice(0, -1);
      // A neutral name: nothing but the lines themselves tells the algorithm.
      writeFileSync(join(tmp.dir, 'list'), lines.map((l, i) => `${i === 1 ? flipDigit(l) : l}\n`).join(''));
      const r = await runH2k(['hash', '--check', 'list'], { cwd: tmp.dir });
      expect(r.code, label).toBe(1);
      expect(r.stdout, label).toBe(lines.map((l, i) => (i === 1 ? `${files[i]}: FAILED\n` : okLine(files[i], algo, l))).join(''));
      expect(r.stderr, label).toBe('h2k: WARNING: 1 computed checksum did NOT match\n');
      // The tool that wrote the file agrees.
      expect((await runCommand(checker, ['-c', 'list'], { cwd: tmp.dir })).code, label).toBe(1);
    }
  }, 120_000);

  it('an ambiguous length: every candidate is tried and the match reported; -a or the sum file name decides', async () => {
    writeFileSync(join(tmp.dir, 'x128'), tool('xxh128sum', ['one']));
    expect((await runH2k(['hash', '-c', 'x128'], { cwd: tmp.dir })).stdout).toBe('one: OK (xxh128)\n');
    expect((await runH2k(['hash', '-c', 'x128', '-a', 'xxh128'], { cwd: tmp.dir })).stdout).toBe('one: OK\n');
    const asMd5 = await runH2k(['hash', '-c', 'x128', '-a', 'md5'], { cwd: tmp.dir });
    expect([asMd5.code, asMd5.stdout]).toEqual([1, 'one: FAILED\n']);
    writeFileSync(join(tmp.dir, 'MD5SUMS'), tool('xxh128sum', ['one']));
    expect((await runH2k(['hash', '-c', 'MD5SUMS'], { cwd: tmp.dir })).stdout).toBe('one: FAILED\n');
    // XXH3 as a bare 16-digit line (h2k --untagged) is not xxhsum's default XXH64: both are tried.
    writeFileSync(join(tmp.dir, 'x3'), `${toolDigest('xxh3', join(tmp.dir, 'one'))}  one\n`);
    expect((await runH2k(['hash', '-c', 'x3'], { cwd: tmp.dir })).stdout).toBe('one: OK (xxh3)\n');
    // A digest that is no candidate's.
    writeFileSync(join(tmp.dir, 'none'), `${'0'.repeat(128)}  one\n`);
    const none = await runH2k(['hash', '-c', 'none'], { cwd: tmp.dir });
    expect([none.code, none.stdout, none.stderr]).toEqual([1, 'one: FAILED\n', 'h2k: WARNING: 1 computed checksum did NOT match\n']);
  });
});

describe('--check says what md5sum -c says', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeAll(() => {
    dir = tempDir('hash-check-md5sum');
    for (const [n, body] of [['f1', 'one'], ['f2', 'two'], ['new\nline', 'nl'], ['back\\slash', 'bs']]) writeFileSync(join(dir.dir, n), body);
    mkdirSync(join(dir.dir, 'adir'));
    const sums = execFileSync('md5sum', ['f1', 'f2', 'new\nline', 'back\\slash'], { cwd: dir.dir, encoding: 'utf8' }).split('\n');
    sums[1] = flipDigit(sums[1]);
    const extra = ['d41d8cd98f00b204e9800998ecf8427e  gone', 'not a checksum line', 'd41d8cd98f00b204e9800998ecf8427e  adir', ''];
    writeFileSync(join(dir.dir, 'sums'), [...sums.slice(0, -1), ...extra].join('\n'));
    writeFileSync(join(dir.dir, 'clean'), execFileSync('md5sum', ['f1'], { cwd: dir.dir, encoding: 'utf8' }) + 'junk\n');
    writeFileSync(join(dir.dir, 'missing'), 'd41d8cd98f00b204e9800998ecf8427e  gone\n');
    writeFileSync(join(dir.dir, 'junk'), 'nothing here\n');
  });
  afterAll(() => dir.cleanup());

  const cases: [string, string[]][] = [
    ['sums', []],
    ['sums', ['--quiet']],
    ['sums', ['--status']],
    ['sums', ['-w']],
    ['sums', ['--ignore-missing']],
    ['sums', ['--status', '-w']],
    ['sums', ['-w', '--quiet']],
    ['sums', ['--quiet', '--status']],
    ['clean', []],
    ['clean', ['--strict']],
    ['missing', []],
    ['missing', ['--ignore-missing']],
    ['missing', ['--ignore-missing', '--status']],
    ['junk', ['--status']],
  ];
  for (const [sums, flags] of cases) {
    it(`${sums} ${flags.join(' ')}: same lines, warnings and exit code`, async () => {
      const want = await runCommand('md5sum', ['-c', sums, ...flags], { cwd: dir.dir });
      const got = await runH2k(['hash', '-c', sums, '-a', 'md5', ...flags], { cwd: dir.dir });
      expect(got.stdout).toBe(want.stdout);
      expect(got.stderr).toBe(want.stderr.replace(/^md5sum: /gm, 'h2k: '));
      expect(got.code).toBe(want.code);
    });
  }

  it('the exit code and messages the brief names: mismatch 1, missing 1, missing with --ignore-missing 0', async () => {
    expect((await runH2k(['hash', '-c', 'clean'], { cwd: dir.dir })).code).toBe(0);
    writeFileSync(join(dir.dir, 'some-missing'), execFileSync('md5sum', ['f1'], { cwd: dir.dir, encoding: 'utf8' }) + 'd41d8cd98f00b204e9800998ecf8427e  gone\n');
    const m = await runH2k(['hash', '-c', 'some-missing'], { cwd: dir.dir });
    expect([m.code, m.stdout]).toEqual([1, 'f1: OK\ngone: FAILED open or read\n']);
    expect(m.stderr).toBe('h2k: gone: No such file or directory\nh2k: WARNING: 1 listed file could not be read\n');
    const i = await runH2k(['hash', '-c', 'some-missing', '--ignore-missing'], { cwd: dir.dir });
    expect([i.code, i.stdout, i.stderr]).toEqual([0, 'f1: OK\n', '']);
  });
});

describe('--content', () => {
  it('one disk as raw, monolithicSparse, streamOptimized and qcow2 hashes the same, equal to qemu-img convert -O raw', async () => {
    const raw = makeSeededRaw(join(tmp.dir, 'disk.raw'), 24, 11);
    toVmdk(raw, join(tmp.dir, 'disk-sparse.vmdk'), 'monolithicSparse');
    toVmdk(raw, join(tmp.dir, 'disk-stream.vmdk'), 'streamOptimized');
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, join(tmp.dir, 'disk.qcow2')]);
    // The oracle: qemu-img's own raw export of the streamOptimized image.
    qemuImg(['convert', '-q', '-O', 'raw', join(tmp.dir, 'disk-stream.vmdk'), join(tmp.dir, 'export.raw')]);
    const want = { md5: toolDigest('md5', join(tmp.dir, 'export.raw')), xxh3: toolDigest('xxh3', join(tmp.dir, 'export.raw')) };
    const images = ['disk.raw', 'disk-sparse.vmdk', 'disk-stream.vmdk', 'disk.qcow2'];
    const r = await runH2k(['hash', '--content', '--json', '-a', 'md5,xxh3', ...images], { cwd: tmp.dir });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { file: string; bytes: number; bytesRead: number; digests: Record<string, string> }[] };
    expect(out.results).toHaveLength(4);
    for (const x of out.results) {
      expect(x.digests, x.file).toEqual(want);
      expect(x.bytes).toBe(24 * 1024 * 1024);
    }
    // The sparse VMDK's holes were hashed as zeros, not read.
    expect(out.results[1].bytesRead).toBeLessThan(out.results[1].bytes);
    // File hashes differ (different containers), content hashes don't.
    const plain = await runH2k(['hash', ...images], { cwd: tmp.dir });
    expect(new Set(plain.stdout.trim().split('\n').map((l) => l.split(' ')[0])).size).toBe(4);
  });
});
