// The path rule, proven the way an attacker would probe it: every field that names a file (OVF
// href, OVA member, .mf, VMDK extent, parentFileNameHint, qcow2 backing, VHD/VHDX parent) in every
// spelling (.., absolute, symlink, chain, symlinked directory, /proc link, FIFO, device). h2k runs
// under strace -y, which prints the file each descriptor really names, so the test asserts that
// nothing outside the image's directory was opened — not only that the exit code is non-zero.
// qemu-img runs on the same inputs for the README's comparison.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h2kBin, repoRoot } from './helpers/cli.js';
import { compareImages, makeSeededRaw, tempDir } from './helpers/fixtures.js';
import { buildHostileCorpus, makeBait, openedPaths, type Bait, type HostileCase } from './helpers/hostile-paths.js';

interface Traced {
  code: number | null;
  stderr: string;
  opened: string[];
}

function traced(cmd: string, args: string[], log: string, timeoutMs = 60_000, env: NodeJS.ProcessEnv = {}): Promise<Traced> {
  return new Promise((resolve, reject) => {
    const child = spawn('strace', ['-f', '-qq', '-y', '-e', 'trace=open,openat,openat2', '-o', log, cmd, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject); // no strace is a failure, not a skip
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, opened: existsSync(log) ? openedPaths(readFileSync(log, 'utf8')) : [] });
    });
  });
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => join(dir, f)).filter((f) => statSync(f).isFile());
}

let tmp: { dir: string; cleanup: () => void };
let root: string;
let bait: Bait;
let corpus: Array<HostileCase & { dir: string }>;
const summary: Array<{ name: string; field: string; h2kRefused: boolean; h2kOutside: number; qemu?: { code: number | null; outside: number } }> = [];

beforeAll(() => {
  tmp = tempDir('hostile');
  root = realpathSync(tmp.dir);
  bait = makeBait(root, 0x5eed14);
  corpus = buildHostileCorpus(root, bait);
});

afterAll(() => {
  if (summary.length) {
    const refused = summary.filter((s) => s.h2kRefused).length;
    const outside = summary.reduce((a, s) => a + s.h2kOutside, 0);
    const q = summary.filter((s) => s.qemu);
    const qOutside = q.filter((s) => s.qemu!.outside > 0).length;
    const qAccepted = q.filter((s) => s.qemu!.code === 0).length;
    console.log(
      `hostile path corpus: h2k refused ${refused}/${summary.length}, runs that opened a file outside: ${summary.filter((s) => s.h2kOutside).length}/${summary.length} (${outside} opens); ` +
        `qemu-img on the ${q.length} cases it reads: converted ${qAccepted}/${q.length}, opened a file outside in ${qOutside}/${q.length}\n` +
        summary.map((s) => `  ${s.name.padEnd(28)} ${s.field.padEnd(24)} h2k ${s.h2kRefused ? 'refused' : 'ACCEPTED'}${s.qemu ? `  qemu-img exit ${s.qemu.code}, outside opens ${s.qemu.outside}` : ''}`).join('\n'),
    );
  }
  tmp?.cleanup();
});

/** Opened paths beneath the test root that are not the case's own directory or its output. */
function outsideOpens(opened: string[], allowed: string[]): string[] {
  return opened.filter((p) => (p.startsWith(`${root}/`) || p.startsWith('/proc/') && /environ$/.test(p)) && !allowed.some((a) => p === a || p.startsWith(`${a}/`)));
}

describe('hostile paths: nothing outside the image is opened', () => {
  it('refuses every case with E_PATH_ESCAPE, opens nothing outside, and the bait reaches no output', async () => {
    for (const c of corpus) {
      const out = join(root, 'out', c.name);
      mkdirSync(out, { recursive: true });
      const r = await traced(process.execPath, [h2kBin, ...c.h2k(c.dir, out)], join(root, `${c.name}.strace`));
      const outside = outsideOpens(r.opened, [c.dir, out]);
      let qemu: { code: number | null; outside: number } | undefined;
      if (c.qemu) {
        const qOut = join(root, 'qemu-out', c.name);
        mkdirSync(qOut, { recursive: true });
        const q = await traced('qemu-img', c.qemu(c.dir, qOut), join(root, `${c.name}.qemu.strace`));
        qemu = { code: q.code, outside: outsideOpens(q.opened, [c.dir, qOut]).length };
      }
      summary.push({ name: c.name, field: c.field, h2kRefused: r.code === 3 && r.stderr.includes(c.code), h2kOutside: outside.length, qemu });
      expect({ case: c.name, code: r.code, hasCode: r.stderr.includes(c.code) }, r.stderr).toEqual({ case: c.name, code: 3, hasCode: true });
      expect({ case: c.name, outside }).toEqual({ case: c.name, outside: [] });
      for (const f of filesUnder(out)) expect(readFileSync(f).includes(bait.marker), `${c.name}: ${f}`).toBe(false);
      expect(filesUnder(out), c.name).toEqual([]);
    }
  }, 600_000);

  it('without openat2 (older kernels) the component walk refuses every case too', async () => {
    for (const c of corpus) {
      const out = join(root, 'out-walk', c.name);
      mkdirSync(out, { recursive: true });
      const r = await traced(process.execPath, [h2kBin, ...c.h2k(c.dir, out)], join(root, `${c.name}.walk.strace`), 60_000, { H2K_DISABLE_OPENAT2: '1' });
      expect({ case: c.name, code: r.code, hasCode: r.stderr.includes(c.code) }, r.stderr).toEqual({ case: c.name, code: 3, hasCode: true });
      expect({ case: c.name, outside: outsideOpens(r.opened, [c.dir, out]), openat2: r.opened.length >= 0 }).toEqual({ case: c.name, outside: [], openat2: true });
      expect(filesUnder(out), c.name).toEqual([]);
    }
  }, 600_000);

  it('the error names the file that did the naming and says what to do', async () => {
    const c = corpus.find((x) => x.name === 'ovf-href-symlink')!;
    const out = join(root, 'out', 'msg');
    const r = await traced(process.execPath, [h2kBin, ...c.h2k(c.dir, out)], join(root, 'msg.strace'));
    expect(r.stderr).toMatch(/refusing 'disk1\.vmdk' referenced from .*evil\.ovf/);
    expect(r.stderr).toContain('symbolic link');
    expect(r.stderr).toContain('--allow-external-paths');
  });
});

describe('what stays allowed', () => {
  it('a symlink that stays inside the directory is followed, and the result is the right data', async () => {
    const d = join(root, 'inside-link');
    mkdirSync(d, { recursive: true });
    const raw = makeSeededRaw(join(d, 'data.raw'), 1, 3);
    writeFileSync(join(d, 'disk.vmdk'), `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\nRW 2048 FLAT "disk-flat.vmdk" 0\n`);
    symlinkSync('data.raw', join(d, 'disk-flat.vmdk'));
    const r = await traced(process.execPath, [h2kBin, 'convert', join(d, 'disk.vmdk'), '-o', join(d, 'out.qcow2')], join(root, 'inside.strace'));
    expect(r.code, r.stderr).toBe(0);
    expect(compareImages(raw, join(d, 'out.qcow2'), 'raw', 'qcow2').code).toBe(0);
  });

  it('--allow-external-paths follows an extent outside, because the user said so', async () => {
    const c = corpus.find((x) => x.name === 'vmdk-extent-absolute')!;
    const out = join(root, 'out', 'allowed.qcow2');
    const r = await traced(process.execPath, [h2kBin, 'convert', join(c.dir, 'evil.vmdk'), '-o', out, '--allow-external-paths'], join(root, 'allowed.strace'));
    expect(r.code, r.stderr).toBe(0);
    expect(compareImages(bait.secret, out, 'raw', 'qcow2').code).toBe(0);
  });
});

describe('manifests with a source root (manifest_source_root / --source-root)', () => {
  const manifest = (dir: string, name: string, sourceType: string, source: string) => {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(path, `version: "1.0"\nname: ${name}\npipeline:\n  load:\n    source_type: ${sourceType}\n    source_path: ${source}\n  convert:\n    output_format: qcow2\n`);
    return path;
  };

  it('a source outside the root, or a link out of it, is refused before anything is read; one inside converts', async () => {
    const srcRoot = join(root, 'srcroot');
    const out = join(root, 'out', 'manifests');
    mkdirSync(srcRoot, { recursive: true });
    mkdirSync(out, { recursive: true });
    const raw = makeSeededRaw(join(srcRoot, 'good.raw'), 1, 9);
    symlinkSync(bait.secret, join(srcRoot, 'linked.raw'));
    const cases = [
      { m: manifest(srcRoot, 'outside', 'raw', bait.secret), ok: false },
      { m: manifest(srcRoot, 'dotdot', 'raw', '../bait/shadow'), ok: false },
      { m: manifest(srcRoot, 'linked', 'raw', 'linked.raw'), ok: false },
      { m: manifest(srcRoot, 'good', 'raw', 'good.raw'), ok: true },
    ];
    for (const c of cases) {
      const r = await traced(process.execPath, [h2kBin, 'manifest', 'run', c.m, '-o', out, '--source-root', srcRoot], join(root, 'manifest.strace'));
      if (c.ok) {
        expect(r.code, r.stderr).toBe(0);
        expect(compareImages(raw, join(out, 'good.qcow2'), 'raw', 'qcow2').code).toBe(0);
      } else {
        expect({ m: c.m, code: r.code, escape: r.stderr.includes('E_PATH_ESCAPE') }, r.stderr).toEqual({ m: c.m, code: 3, escape: true });
        expect(outsideOpens(r.opened, [srcRoot, out])).toEqual([]);
      }
    }
    for (const f of filesUnder(out)) expect(readFileSync(f).includes(bait.marker), f).toBe(false);
  });
});
