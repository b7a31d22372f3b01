// A dropped file must never make the daemon read the host. The real daemon runs under strace
// (every open after it is ready is recorded, with the file each fd really is); links, a hard
// link, a FIFO, a socket, descriptors pointing at them or outside, and random bytes named .vmdk
// are dropped, each followed by a good image. Each hostile entry must land in .errors/ with its
// record, unopened; the bait's bytes must appear nowhere; the good images must all convert.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { checkDrop, checkExtent, openChecked } from '../src/daemon/drop-guard.js';
import { processedDir } from '../src/daemon/file-moves.js';
import { vmNameOf } from '../src/daemon/job-runner.js';
import { loadAddon } from '../src/native/addon.js';
import { repoRoot } from './helpers/cli.js';
import { compareImages, makeSeededRaw, tempDir, toVmdk } from './helpers/fixtures.js';
import { startDaemon, type DaemonHarness } from './helpers/daemon-harness.js';

const fx = tempDir('hostile-fx');
const harnesses: DaemonHarness[] = [];
const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) s.close();
  for (const h of harnesses) {
    await h.shutdown();
    h.cleanup();
  }
  fx.cleanup();
});

const inside = (dir: string, p: string) => p === dir || p.startsWith(dir + sep);

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) filesUnder(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** strace -xx prints every byte of a string as \xHH. */
const unhex = (s: string) => Buffer.from(s.replace(/\\x([0-9a-f]{2})/g, '$1'), 'hex').toString('utf8');

interface OpenCall {
  time: number;
  /** the path as passed, resolved against the dirfd strace showed */
  path: string;
  /** what the returned fd really is (after any link): strace -y */
  opened?: string;
  line: string;
}

/** open/openat/openat2 calls from `strace -f -ttt -y -xx -s 4096` (an unfinished call keeps its path). */
function parseOpens(log: string): OpenCall[] {
  const calls: OpenCall[] = [];
  for (const line of log.split('\n')) {
    const m = /^\d+\s+(\d+\.\d+)\s+(open|openat|openat2)\((.*)$/.exec(line);
    if (!m) continue;
    let rest = m[3];
    let base = repoRoot; // the daemon's cwd
    if (m[2] !== 'open') {
      const dirfd = /^(AT_FDCWD|\d+)(?:<((?:\\x[0-9a-f]{2})*)>)?, /.exec(rest);
      if (!dirfd) throw new Error(`unparsed strace line: ${line}`);
      if (dirfd[2] !== undefined) base = unhex(dirfd[2]);
      else if (dirfd[1] !== 'AT_FDCWD') base = '<unknown dirfd>';
      rest = rest.slice(dirfd[0].length);
    }
    const str = /^"((?:\\x[0-9a-f]{2})*)"/.exec(rest);
    if (!str) throw new Error(`unparsed strace line: ${line}`);
    const arg = unhex(str[1]);
    const fd = /= \d+<((?:\\x[0-9a-f]{2})*)>/.exec(rest);
    calls.push({ time: Number(m[1]) * 1000, path: isAbsolute(arg) ? arg : resolve(base, arg), opened: fd ? unhex(fd[1]) : undefined, line });
  }
  return calls;
}

describe('drop guard (unit)', () => {
  it('lstat rules: plain files pass; links, hard links and FIFOs are refused without being opened', async () => {
    const d = join(fx.dir, 'unit');
    mkdirSync(d);
    writeFileSync(join(d, 'ok.img'), 'x');
    symlinkSync('/etc/passwd', join(d, 'l.vmdk'));
    writeFileSync(join(d, 'h1'), 'x');
    linkSync(join(d, 'h1'), join(d, 'h2.img'));
    execFileSync('mkfifo', [join(d, 'p.vmdk')]);
    const ident = await checkDrop(join(d, 'ok.img'));
    expect(ident.size).toBe(1);
    await (await openChecked(join(d, 'ok.img'), ident)).close();
    await expect(checkDrop(join(d, 'l.vmdk'))).rejects.toMatchObject({ code: 'E_UNSAFE_DROP', message: "l.vmdk is a symbolic link (to '/etc/passwd'); the daemon never follows links" });
    await expect(checkDrop(join(d, 'h2.img'))).rejects.toMatchObject({ code: 'E_UNSAFE_DROP', message: expect.stringContaining('h2.img is a hard link (one of 2 names') });
    await expect(checkDrop(join(d, 'p.vmdk'))).rejects.toMatchObject({ code: 'E_UNSAFE_DROP', message: 'p.vmdk is a FIFO (named pipe), not a regular file' });
    // The second line: a file swapped for a link after its check is not followed.
    await expect(openChecked(join(d, 'l.vmdk'), ident)).rejects.toMatchObject({ code: 'E_UNSAFE_DROP', message: expect.stringContaining('became a symbolic link') });
    // A different file under the checked name is refused too.
    await expect(openChecked(join(d, 'ok.img'), { ...ident, ino: ident.ino + 1 })).rejects.toMatchObject({ code: 'E_UNSAFE_DROP', message: expect.stringContaining('was replaced') });
    await expect(checkExtent(join(d, 'x.vmdk'), '../bait')).rejects.toMatchObject({ code: 'E_PATH_ESCAPE', message: "x.vmdk names extent '../bait', which is not a file next to it" });
    await expect(checkExtent(join(d, 'x.vmdk'), 'l.vmdk')).rejects.toMatchObject({ code: 'E_UNSAFE_DROP', message: expect.stringMatching(/^extent l\.vmdk named by x\.vmdk is a symbolic link/) });
    expect(await checkExtent(join(d, 'x.vmdk'), 'missing-flat.vmdk')).toBeUndefined();
  });

  it('native plain-files-only mode: the converter\'s own opens refuse links, hard links and FIFOs (no hang)', async () => {
    const d = join(fx.dir, 'native');
    mkdirSync(d);
    const img = makeSeededRaw(join(d, 'disk.img'), 1, 2);
    symlinkSync(img, join(d, 'link.img'));
    writeFileSync(join(d, 'two'), Buffer.alloc(4096));
    linkSync(join(d, 'two'), join(d, 'two.img'));
    execFileSync('mkfifo', [join(d, 'fifo.img')]);
    const addon = loadAddon();
    expect((await addon.imageInfo(join(d, 'link.img'))).format).toBe('raw'); // off: followed, as the CLI does
    addon.setPlainFilesOnly(true);
    try {
      expect((await addon.imageInfo(img)).format).toBe('raw');
      await expect(addon.imageInfo(join(d, 'link.img'))).rejects.toMatchObject({ code: 'E_UNSAFE_DROP', message: expect.stringContaining('it is a symbolic link') });
      await expect(addon.imageInfo(join(d, 'two.img'))).rejects.toMatchObject({ code: 'E_UNSAFE_DROP', message: expect.stringContaining('hard link (2 names)') });
      await expect(addon.imageInfo(join(d, 'fifo.img'))).rejects.toMatchObject({ code: 'E_UNSAFE_DROP', message: expect.stringContaining('not a regular file') });
    } finally {
      addon.setPlainFilesOnly(false);
    }
  });

  it('vm names: ASCII as before, Unicode kept, lossy non-ASCII names get a stable hash', () => {
    expect(vmNameOf('/w/Web Server-01.vmdk')).toBe('Web_Server-01');
    expect(vmNameOf('/w/web-01.img')).toBe('web-01');
    expect(vmNameOf('/w/日本.vmdk')).toBe('日本');
    expect(vmNameOf('/w/中国.vmdk')).toBe('中国');
    expect(vmNameOf('/w/Café.vmdk')).toBe('Café');
    const a = vmNameOf('/w/日本 1.vmdk');
    const b = vmNameOf('/w/日本?1.vmdk');
    expect(a).toMatch(/^日本_1-[0-9a-f]{8}$/);
    expect(b).toMatch(/^日本_1-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(vmNameOf('/w/日本 1.vmdk')).toBe(a);
    expect(vmNameOf('/w/🙂.vmdk')).toMatch(/^disk-[0-9a-f]{8}$/);
    const long = vmNameOf(`/w/${'é'.repeat(300)}.vmdk`);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(209);
  });
});

describe('hostile drops (real daemon under strace)', () => {
  it('refuses every hostile entry unopened, reads nothing outside, and keeps converting', { timeout: 120_000 }, async () => {
    const straceLog = join(fx.dir, 'strace.log');
    const envMarker = `H2K-ENV-${randomBytes(12).toString('hex')}`;
    const h = await startDaemon({
      wrap: ['strace', '-f', '-qq', '--seccomp-bpf', '-ttt', '-y', '-xx', '-s', '4096', '-e', 'trace=open,openat,openat2', '-o', straceLog],
      env: { H2K_TEST_ENV_MARKER: envMarker },
      // hashing on: the dedup key must not be computed over anything hostile either
      config: { enable_deduplication: true, deduplication_use_md5: true, deduplication_hash: 'xxh3', max_concurrent_jobs: 2 },
    });
    harnesses.push(h);
    const readyAt = Date.parse(h.events.find((e) => e.event === 'daemon_started')!.time);
    const w = h.watchDir;
    const errors = join(w, '.errors');

    // The bait stands in for /etc/shadow: outside the watch folder, with a marker we can look for.
    const marker = `H2K-BAIT-${randomBytes(16).toString('hex')}`;
    const bait = join(h.root, 'bait');
    writeFileSync(bait, Buffer.concat([Buffer.from(`${marker}\n`), randomBytes(1 << 20), Buffer.from(marker)]));
    mkdirSync(join(h.root, 'baitdir'));
    symlinkSync(bait, join(h.root, 'mid-link'));

    const raw = makeSeededRaw(join(fx.dir, 'good.raw'), 2, 5);
    // Two different images for the Unicode names (dedup would skip a second copy of the same one).
    toVmdk(raw, join(fx.dir, 'ja.vmdk'), 'monolithicSparse');
    toVmdk(makeSeededRaw(join(fx.dir, 'good2.raw'), 2, 6), join(fx.dir, 'zh.vmdk'), 'monolithicSparse');
    let goodN = 0;
    const goodNames: string[] = [];
    const dropGood = () => {
      const name = `good-${++goodN}.img`;
      goodNames.push(name);
      const bytes = readFileSync(raw);
      bytes.write(name, 512); // each one different, or dedup would skip it
      writeFileSync(join(fx.dir, 'staging'), bytes);
      // written aside, then renamed in: the daemon sees the finished file at once
      execFileSync('mv', [join(fx.dir, 'staging'), join(w, name)]);
    };
    const descriptor = (...extents: string[]) =>
      ['# Disk DescriptorFile', 'version=1', 'CID=fffffffe', 'parentCID=ffffffff', 'createType="monolithicFlat"', '',
        ...extents.map((x) => `RW 2048 FLAT "${x}" 0`), '', 'ddb.virtualHWVersion = "4"', 'ddb.geometry.cylinders = "2"', 'ddb.geometry.heads = "16"',
        'ddb.geometry.sectors = "63"', 'ddb.adapterType = "ide"', ''].join('\n');

    // name -> the code its error record must carry
    const expected: Record<string, string> = {};
    const hostile = (name: string, code: string, make: () => void) => {
      expected[name] = code;
      make();
      dropGood();
    };
    hostile('link.vmdk', 'E_UNSAFE_DROP', () => symlinkSync(bait, join(w, 'link.vmdk')));
    hostile('chain.img', 'E_UNSAFE_DROP', () => symlinkSync(join(h.root, 'mid-link'), join(w, 'chain.img')));
    hostile('dirlink.vmdk', 'E_UNSAFE_DROP', () => symlinkSync(join(h.root, 'baitdir'), join(w, 'dirlink.vmdk')));
    hostile('environ.vmdk', 'E_UNSAFE_DROP', () => symlinkSync('/proc/self/environ', join(w, 'environ.vmdk')));
    hostile('hard.img', 'E_UNSAFE_DROP', () => linkSync(bait, join(w, 'hard.img')));
    hostile('pipe.vmdk', 'E_UNSAFE_DROP', () => execFileSync('mkfifo', [join(w, 'pipe.vmdk')]));
    hostile('sock.img', 'E_UNSAFE_DROP', () => {
      const s = createServer();
      servers.push(s);
      s.listen(join(w, 'sock.img'));
    });
    // Devices (root only, as the daemon in production): /dev/zero's numbers would read forever,
    // a loop device's would read a host disk.
    if (process.getuid?.() === 0) {
      hostile('zero.img', 'E_UNSAFE_DROP', () => execFileSync('mknod', [join(w, 'zero.img'), 'c', '1', '5']));
      hostile('loop.img', 'E_UNSAFE_DROP', () => execFileSync('mknod', [join(w, 'loop.img'), 'b', '7', '0']));
    }
    hostile('evil.vmdk', 'E_UNSAFE_DROP', () => {
      expected['evil-flat.vmdk'] = 'E_UNSAFE_DROP';
      symlinkSync(bait, join(w, 'evil-flat.vmdk'));
      writeFileSync(join(w, 'evil.vmdk'), descriptor('evil-flat.vmdk'));
    });
    // One good extent and one linked: the descriptor takes its good extent along (no orphan left
    // to be converted on its own after extent_wait_timeout).
    hostile('mixed.vmdk', 'E_UNSAFE_DROP', () => {
      expected['mixed-f002.vmdk'] = 'E_UNSAFE_DROP';
      writeFileSync(join(w, 'mixed-flat.vmdk'), randomBytes(1 << 20));
      symlinkSync(bait, join(w, 'mixed-f002.vmdk'));
      writeFileSync(join(w, 'mixed.vmdk'), descriptor('mixed-flat.vmdk', 'mixed-f002.vmdk'));
    });
    hostile('escape.vmdk', 'E_PATH_ESCAPE', () => writeFileSync(join(w, 'escape.vmdk'), descriptor('../bait')));
    let randomDroppedAt = 0;
    hostile('random.vmdk', 'E_FORMAT_MISMATCH', () => {
      writeFileSync(join(fx.dir, 'random'), randomBytes(256 * 1024));
      randomDroppedAt = Date.now();
      execFileSync('mv', [join(fx.dir, 'random'), join(w, 'random.vmdk')]);
    });
    copyFileSync(join(fx.dir, 'ja.vmdk'), join(w, '日本.vmdk'));
    copyFileSync(join(fx.dir, 'zh.vmdk'), join(w, '中国.vmdk'));
    const hostileNames = Object.keys(expected);

    await h.until('every hostile drop refused and every good image converted', () =>
      hostileNames.every((n) => existsSync(join(errors, `${n}.error.json`))) && existsSync(join(errors, 'mixed-flat.vmdk')) &&
      h.count('job_succeeded') === goodNames.length + 2, 90_000);
    expect(existsSync(join(w, 'mixed-flat.vmdk'))).toBe(false);

    // Each hostile entry is in .errors/ as itself (a link stays a link) with its record.
    for (const name of hostileNames) {
      const record = JSON.parse(readFileSync(join(errors, `${name}.error.json`), 'utf8'));
      expect(record, name).toMatchObject({ filename: name, code: expected[name] });
      expect(record.suggestion.length, name).toBeGreaterThan(10);
      expect(lstatSync(join(errors, name)), name).toBeTruthy();
      expect(existsSync(join(w, name)), name).toBe(false);
    }
    expect(lstatSync(join(errors, 'link.vmdk')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(errors, 'pipe.vmdk')).isFIFO()).toBe(true);
    if (expected['zero.img']) {
      expect(lstatSync(join(errors, 'zero.img')).isCharacterDevice()).toBe(true);
      expect(JSON.parse(readFileSync(join(errors, 'loop.img.error.json'), 'utf8')).error).toBe('loop.img is a block device, not a regular file');
    }
    const linkRecord = JSON.parse(readFileSync(join(errors, 'link.vmdk.error.json'), 'utf8'));
    expect(linkRecord.error).toBe(`link.vmdk is a symbolic link (to '${bait}'); the daemon never follows links`);
    expect(linkRecord.hint).toMatch(/copy the disk into the watch folder/);
    expect(JSON.parse(readFileSync(join(errors, 'evil.vmdk.error.json'), 'utf8')).error).toMatch(/extent evil-flat\.vmdk named by evil\.vmdk (is a symbolic link|was refused: evil-flat\.vmdk is a symbolic link)/);
    expect(JSON.parse(readFileSync(join(errors, 'escape.vmdk.error.json'), 'utf8')).error).toBe("escape.vmdk names extent '../bait', which is not a file next to it");
    const randomRecord = JSON.parse(readFileSync(join(errors, 'random.vmdk.error.json'), 'utf8'));
    expect(randomRecord).toMatchObject({ error: 'random.vmdk is not a VMDK: no descriptor or sparse magic', phase: 'file_type_detection' });
    const refusedRandom = h.events.find((e) => e.event === 'drop_refused' && String(e.file).endsWith('/random.vmdk'))!;
    expect(Date.parse(refusedRandom.time) - randomDroppedAt).toBeLessThan(5000);
    expect(h.count('job_failed')).toBe(0);
    // one refusal per hostile entry, plus mixed-flat.vmdk's own when it settled after its descriptor went
    expect([hostileNames.length, hostileNames.length + 1]).toContain(h.count('drop_refused'));

    // Every good image converted; the two Unicode ones to folders of their own.
    const outputs = filesUnder(h.outputDir);
    const sources: [string, string, string][] = [
      ...goodNames.map((g): [string, string, string] => [g.replace('.img', ''), join(processedDir(w), g), 'raw']),
      ['日本', join(fx.dir, 'ja.vmdk'), 'vmdk'],
      ['中国', join(fx.dir, 'zh.vmdk'), 'vmdk'],
    ];
    for (const [n, src, fmt] of sources) {
      const out = outputs.find((p) => p.endsWith(`${sep}${n}${sep}${n}.qcow2`));
      expect(out, n).toBeTruthy();
      expect(compareImages(src, out!, fmt, 'qcow2').code, n).toBe(0);
    }
    expect(readdirSync(processedDir(w)).sort()).toEqual([...goodNames, '中国.vmdk', '日本.vmdk'].sort());

    // The bait's (and the daemon's environment's) bytes are nowhere in the outputs or the log.
    for (const f of [...outputs, ...filesUnder(errors).filter((p) => p.endsWith('.error.json'))]) {
      if (/\.tmp-\d+-[a-z0-9]+$/.test(f)) continue; // stats.json being replaced right now
      const bytes = readFileSync(f);
      expect(bytes.includes(marker), f).toBe(false);
      expect(bytes.includes(envMarker), f).toBe(false);
    }
    expect(h.stderr().includes(marker)).toBe(false);
    expect(h.stderr().includes(envMarker)).toBe(false);
    expect(lstatSync(bait).nlink).toBe(2); // the hard link was moved, not copied or followed

    await h.ctl(['stop']);
    await h.exited;

    // strace: after the daemon was ready, nothing was opened outside the watch and output dirs
    // but the runtime's own files, no open touched the bait (by name, or as what an fd turned out
    // to be after links), and no hostile entry was opened at all, not even with O_NOFOLLOW.
    const opens = parseOpens(readFileSync(straceLog, 'utf8')).filter((c) => c.time >= readyAt);
    expect(opens.length).toBeGreaterThan(20); // the log is real: the good images were opened
    const runtime = [repoRoot, realpathSync(join(repoRoot, 'node_modules')), dirname(dirname(process.execPath)), '/proc', '/sys', '/dev', '/etc', '/usr', '/lib', '/lib64'];
    const watchReal = realpathSync(w);
    const outReal = realpathSync(h.outputDir);
    const outsideRoot = [bait, join(h.root, 'baitdir'), join(h.root, 'mid-link')];
    // Links, the hard link, the FIFO and the socket are refused on lstat alone: never opened. (The
    // descriptors and random.vmdk are regular files: their first bytes are read, with O_NOFOLLOW.)
    const unopenable = hostileNames.filter((n) => !['evil.vmdk', 'mixed.vmdk', 'escape.vmdk', 'random.vmdk'].includes(n));
    const hostilePaths = unopenable.flatMap((n) => [join(w, n), join(errors, n), join(watchReal, n), join(watchReal, '.errors', n)]);
    const bad: string[] = [];
    for (const c of opens) {
      for (const p of [c.path, c.opened].filter((x): x is string => x !== undefined)) {
        if (outsideRoot.some((o) => inside(o, p)) || /^\/proc\/(self|\d+)\/environ$/.test(p)) bad.push(`bait/environ: ${c.line}`);
        else if (hostilePaths.includes(p)) bad.push(`hostile entry opened: ${p} :: ${c.line}`);
        else if (![w, h.outputDir, watchReal, outReal, ...runtime].some((d) => inside(d, p))) bad.push(`outside: ${p} :: ${c.line}`);
      }
    }
    expect(bad).toEqual([]);
    // The trace covers the drops: the good images and the probed regular files were opened, the
    // probes with O_NOFOLLOW.
    expect(opens.some((c) => c.path === join(w, '日本.vmdk'))).toBe(true);
    for (const n of ['evil.vmdk', 'escape.vmdk', 'random.vmdk']) {
      const probes = opens.filter((c) => c.path === join(w, n));
      expect(probes.length, n).toBeGreaterThan(0);
      for (const c of probes) expect(c.line, n).toContain('O_NOFOLLOW');
    }
  });

  it('a watch_dir configured as a symlink (the operator\'s, trusted) is still watched; links dropped in it are not', async () => {
    const real = join(fx.dir, 'real-watch');
    mkdirSync(real);
    const link = join(fx.dir, 'watch-link');
    symlinkSync(real, link);
    const h = await startDaemon({ config: { watch_dir: link } });
    harnesses.push(h);
    copyFileSync(makeSeededRaw(join(fx.dir, 'small.raw'), 1, 3), join(link, 'small.img'));
    symlinkSync(join(fx.dir, 'small.raw'), join(link, 'alias.img'));
    await h.until('small.img converted and alias.img refused', () => h.count('job_succeeded') === 1 && h.count('drop_refused') === 1, 30_000);
    expect(existsSync(join(processedDir(real), 'small.img'))).toBe(true);
    expect(JSON.parse(readFileSync(join(real, '.errors', 'alias.img.error.json'), 'utf8')).code).toBe('E_UNSAFE_DROP');
  });
});
